#pragma once
// The one glob dialect of every option that names tensors or layers: quantiser and rank rules,
// `layers =`, `targets =`, `loftlab tensors --layers`.
//
// A glob matches the whole name: '*' any run of characters (dots included), '?' one character,
// '[abc]' / '[a-z]' / '[!...]' a character set or its complement, '{a..b}' a decimal integer
// from a to b inclusive, written without leading zeros (so {0..11} matches layers 0 to 11, not 1
// then 0, and not 02). Any other character, and a '[' or '{' that does not open a well-formed set
// or range, stands for itself.
#include <string_view>

namespace loft {

bool glob_match(std::string_view glob, std::string_view name);

// True when glob has a wildcard: '*', '?', a set or a range. A glob without one names exactly one
// string, itself.
bool has_wildcard(std::string_view glob);

}  // namespace loft
