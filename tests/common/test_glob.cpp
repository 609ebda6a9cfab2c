// The one glob dialect (common/glob.hpp) that quantizer and rank rules, `layers =`, `targets =`
// and `loftlab tensors --layers` share.
#include <catch2/catch.hpp>

#include "common/glob.hpp"

using loft::glob_match;
using loft::has_wildcard;

TEST_CASE("globs: * and ? over whole names, dots included") {
  CHECK(glob_match("*", ""));
  CHECK(glob_match("*", "a.b.c"));
  CHECK(glob_match("*proj*", "model.layers.0.mlp.up_proj.weight"));
  CHECK(!glob_match("*proj", "model.layers.0.mlp.up_proj.weight"));
  CHECK(!glob_match("up_proj", "model.layers.0.mlp.up_proj.weight"));  // whole name, not a part
  CHECK(glob_match("model.layers.?.*", "model.layers.3.x"));
  CHECK(!glob_match("model.layers.?.*", "model.layers.13.x"));
  CHECK(!glob_match("?", ""));
}

TEST_CASE("globs: character sets and their complements") {
  CHECK(glob_match("model.layers.[0-1].*", "model.layers.1.x"));
  CHECK(!glob_match("model.layers.[0-1].*", "model.layers.2.x"));
  CHECK(glob_match("model.layers.[!0-1].*", "model.layers.2.x"));
  CHECK(glob_match("*.[qk]_proj.*", "x.q_proj.weight"));
  CHECK(!glob_match("*.[!qk]_proj.*", "x.k_proj.weight"));
  CHECK(glob_match("*.[!qk]_proj.*", "x.v_proj.weight"));
  CHECK(glob_match("[]]", "]"));    // ']' first in a set is a member
  CHECK(glob_match("a[b", "a[b"));  // unterminated: the rest is literal
  CHECK(!glob_match("a[b", "ab"));
}

TEST_CASE("globs: {a..b} is a decimal integer in a range, without leading zeros") {
  CHECK(glob_match("model.layers.{0..11}.*", "model.layers.11.self_attn.q_proj.weight"));
  CHECK(glob_match("model.layers.{0..11}.*", "model.layers.0.x"));
  CHECK(!glob_match("model.layers.{0..11}.*", "model.layers.12.x"));
  CHECK(!glob_match("model.layers.{0..11}.*", "model.layers.111.x"));
  CHECK(!glob_match("model.layers.{2..3}.*", "model.layers.02.x"));
  CHECK(glob_match("a{1..2}0", "a10"));  // every prefix of the digit run is tried
  CHECK(!glob_match("model.layers.{0..3}.*", "model.layers.x.y"));
  CHECK(glob_match("{3..3}", "3"));
  CHECK(!glob_match("{4..3}", "3"));      // an empty range matches nothing
  CHECK(glob_match("a{1,2}", "a{1,2}"));  // not a range: literal
  CHECK(glob_match("a{1..}", "a{1..}"));
  CHECK(!glob_match("a{1..}", "a1"));
}

TEST_CASE("globs: has_wildcard tells a pattern from a single name") {
  CHECK(!has_wildcard("model.norm.weight"));
  CHECK(has_wildcard("*norm*"));
  CHECK(has_wildcard("model.layers.?.x"));
  CHECK(has_wildcard("model.layers.[01].x"));
  CHECK(has_wildcard("model.layers.{0..1}.x"));
  CHECK(!has_wildcard("a[b"));
  CHECK(!has_wildcard("a{1,2}"));
}

TEST_CASE("globs: many stars against a long near-miss are decided without exponential backtracking",
          "[glob]") {
  // Without memoised failed states this takes about 2^20 steps; with them, 40 x 41.
  const std::string glob = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
  const std::string name(40, 'a');
  CHECK(!glob_match(glob, name));
  CHECK(glob_match(glob, name + "b"));
}
