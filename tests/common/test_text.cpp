// The text helpers every parser shares: exact field boundaries, whitespace, empty input.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/text.hpp"

using SV = std::vector<std::string_view>;

TEST_CASE("split keeps every field, empty ones included") {
  CHECK(loft::split("nf4:b64:dq", ':') == SV{"nf4", "b64", "dq"});
  CHECK(loft::split("a::b", ':') == SV{"a", "", "b"});
  CHECK(loft::split(":a:", ':') == SV{"", "a", ""});
  CHECK(loft::split("", ':') == SV{""});
  CHECK(loft::split("abc", ':') == SV{"abc"});
  CHECK(loft::split(" a , b ", ',') == SV{" a ", " b "});  // no trimming
  // The views point into the argument.
  const std::string s = "x,y";
  CHECK(loft::split(s, ',')[1].data() == s.data() + 2);
}

TEST_CASE("trim removes ASCII whitespace at both ends only") {
  CHECK(loft::trim("  nf4 \t") == "nf4");
  CHECK(loft::trim("\n\r\v\f a b \n") == "a b");
  CHECK(loft::trim("") == "");
  CHECK(loft::trim(" \t ") == "");
  CHECK(loft::trim("x") == "x");
  CHECK(loft::trim("\xc2\xa0x") == "\xc2\xa0x");  // a UTF-8 no-break space is not ASCII space
}

TEST_CASE("split_list gives the trimmed, non-empty items") {
  CHECK(loft::split_list(" nf2, nf3 ,nf4 ") == SV{"nf2", "nf3", "nf4"});
  CHECK(loft::split_list("a,, ,b,") == SV{"a", "b"});
  CHECK(loft::split_list("") == SV{});
  CHECK(loft::split_list(" , ") == SV{});
  CHECK(loft::split_list("q_proj; k_proj", ';') == SV{"q_proj", "k_proj"});
  CHECK(loft::split_list("model.layers.{0..3}.*") == SV{"model.layers.{0..3}.*"});
}

TEST_CASE("join puts the separator between items only") {
  CHECK(loft::join(std::vector<std::string>{"nf2", "nf3", "nf4"}, ", ") == "nf2, nf3, nf4");
  CHECK(loft::join(std::vector<std::string>{"one"}, ", ") == "one");
  CHECK(loft::join(std::vector<std::string>{}, ", ") == "");
  CHECK(loft::join(SV{"a", "", "b"}, ":") == "a::b");
  const char* words[] = {"x", "y"};
  CHECK(loft::join(words, "") == "xy");
  struct Row {
    std::string name;
    int bits;
  };
  const std::vector<Row> rows = {{"nf4", 4}, {"int8", 8}};
  CHECK(loft::join(rows, " | ", [](const Row& r) { return r.name; }) == "nf4 | int8");
  CHECK(loft::join(rows, ",", [](const Row& r) { return std::to_string(r.bits); }) == "4,8");
}

TEST_CASE("join inverts split") {
  for (std::string_view s : {"nf4:b64:dq", "", "::", "a"})
    CHECK(loft::join(loft::split(s, ':'), ":") == s);
}
