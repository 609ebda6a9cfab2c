#include "text/corpus.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/rng.hpp"

namespace loft::text {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  require_regular_file(p, "corpus file");
  std::ifstream in(p, std::ios::binary);
  if (!in) fail("cannot read {}", p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string gunzip(const fs::path& p) {
  require_regular_file(p, "corpus file");
  gzFile f = gzopen(p.c_str(), "rb");
  if (!f) fail("cannot open {}", p.string());
  std::string out;
  std::array<char, 1 << 16> buf;
  int n;
  while ((n = gzread(f, buf.data(), buf.size())) > 0)
    out.append(buf.data(), static_cast<size_t>(n));
  const bool bad = n < 0;
  gzclose(f);
  if (bad) fail("{}: corrupt gzip data", p.string());
  return out;
}

std::vector<std::string_view> lines_of(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string_view::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Without leading/trailing blank lines and trailing spaces.
std::string tidy(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == ' ' || s.back() == '\r' || s.back() == '\t'))
    s.pop_back();
  size_t start = 0;
  while (start < s.size() && s[start] == '\n') ++start;
  return s.substr(start);
}

std::vector<Document> fortunes() {
  const std::string dir = package_path("/usr/share/games/fortunes");
  if (!fs::is_directory(dir)) missing_package("fortunes", "fortunes", dir);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && !e.is_symlink() && !e.path().has_extension())
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<Document> docs;
  for (const auto& f : files) {
    const std::string text = read_file(f);
    std::string cur;
    for (auto line : lines_of(text)) {
      if (line == "%") {
        if (auto t = tidy(std::move(cur)); !t.empty()) docs.push_back({t, f.filename().string()});
        cur.clear();
      } else {
        cur.append(line).push_back('\n');
      }
    }
    if (auto t = tidy(std::move(cur)); !t.empty()) docs.push_back({t, f.filename().string()});
  }
  if (docs.empty()) missing_package("fortunes", "fortunes", dir + "/*");
  return docs;
}

std::vector<Document> jargon() {
  const std::string file = package_path("/usr/share/doc/jargon-text/jargon.txt.gz");
  if (!fs::exists(file)) missing_package("jargon", "jargon-text", file);
  const std::string text = gunzip(file);
  std::vector<Document> docs;
  std::string label, cur;
  auto flush = [&] {
    if (auto t = tidy(std::move(cur)); !t.empty() && label != "Glossary")
      docs.push_back({t, label});
    cur.clear();
  };
  for (auto line : lines_of(text)) {
    // Entries start "   :headword: ..."; chapters and appendices are headings at column 0.
    const bool entry = line.starts_with("   :") && line.find(':', 4) != std::string_view::npos;
    const bool heading = !line.empty() && line[0] != ' ';
    if (entry || heading) {
      flush();
      label = entry ? std::string(line.substr(4, line.find(':', 4) - 4)) : std::string(line);
    }
    if (line.starts_with("   ")) line.remove_prefix(3);  // the file's uniform indent
    cur.append(line).push_back('\n');
  }
  flush();
  return docs;
}

std::vector<Document> kjv() {
  const std::string data = package_path("/usr/lib/bible.data");
  const std::string program = package_path("/usr/bin/bible");
  if (!fs::exists(data)) missing_package("kjv", "bible-kjv-text", data);
  if (!fs::exists(program)) missing_package("kjv", "bible-kjv", program);
  // -f: one verse per line, "Ge1:1 In the beginning ..."; stdin closed so it never prompts.
  const std::string cmd = fmt::format("'{}' -f -p '{}' Gen1:1-Rev22:21 </dev/null", program,
                                      fs::path(data).parent_path().string());
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) fail("cannot run `{}`", cmd);
  std::string out;
  std::array<char, 1 << 16> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  if (status != 0 || out.empty())
    fail("`{}` failed (status {}); reinstall bible-kjv and bible-kjv-text with `make deps`", cmd,
         status);
  std::vector<Document> docs;
  std::string chapter, book, cur;
  for (auto line : lines_of(out)) {
    const size_t space = line.find(' ');
    const size_t colon = line.find(':');
    if (space == std::string_view::npos || colon == std::string_view::npos || colon > space)
      fail("unexpected line in the output of `{}`: '{}'", cmd, line);
    const std::string_view ref = line.substr(0, colon);  // "Ge1"
    if (ref != chapter) {
      if (!cur.empty()) docs.push_back({tidy(std::move(cur)), book});
      cur.clear();
      chapter = std::string(ref);
      size_t digits = ref.size();
      while (digits > 1 && std::isdigit(static_cast<unsigned char>(ref[digits - 1]))) --digits;
      book = std::string(ref.substr(0, digits));
    }
    cur.append(line.substr(space + 1)).push_back('\n');
  }
  if (!cur.empty()) docs.push_back({tidy(std::move(cur)), book});
  return docs;
}

std::vector<Document> file_paragraphs(const fs::path& p) {
  if (!fs::is_regular_file(p)) fail("corpus file:{}: no such file", p.string());
  const std::string text = read_file(p);
  std::vector<Document> docs;
  std::string cur;
  for (auto line : lines_of(text)) {
    const bool blank = line.find_first_not_of(" \t\r") == std::string_view::npos;
    if (blank) {
      if (auto t = tidy(std::move(cur)); !t.empty()) docs.push_back({t, ""});
      cur.clear();
    } else {
      cur.append(line).push_back('\n');
    }
  }
  if (auto t = tidy(std::move(cur)); !t.empty()) docs.push_back({t, ""});
  if (docs.empty()) fail("corpus file:{}: the file holds no text", p.string());
  return docs;
}

struct CorpusKind {
  const char* name;
  const char* description;
  std::vector<Document> (*read)();
};

const std::array<CorpusKind, 3> kCorpora{{
    {"fortunes", "fortune quotes, one document each, labelled by topic (package fortunes)",
     fortunes},
    {"jargon", "the Jargon File, one document per entry or section (package jargon-text)", jargon},
    {"kjv", "the King James Bible, one document per chapter (packages bible-kjv, bible-kjv-text)",
     kjv},
}};

}  // namespace

std::string package_path(const char* path) {
  const char* root = std::getenv("LOFTLAB_CORPUS_ROOT");
  return (root ? std::string(root) : std::string()) + path;
}

void missing_package(std::string_view what, std::string_view packages, std::string_view path) {
  fail("'{}' needs the Debian package(s) {} ({} not found); run `make deps` to install them", what,
       packages, path);
}

std::vector<Document> read_documents(std::string_view spec) {
  if (spec.starts_with("file:")) return file_paragraphs(std::string(spec.substr(5)));
  for (const auto& c : kCorpora)
    if (spec == c.name) return c.read();
  fail("unknown corpus '{}'; valid corpora:{}", spec, corpus_help());
}

bool in_validation(std::string_view text, double fraction) {
  // derive_seed: FNV-1a of the text, finalised by splitmix64, so near-identical texts spread.
  const uint64_t h = derive_seed(0, text);
  return static_cast<double>(h >> 11) * 0x1p-53 < fraction;
}

Corpus load_corpus(std::string_view spec, double validation_fraction) {
  if (!(validation_fraction >= 0 && validation_fraction < 1))
    fail("corpus {}: validation fraction {} must be in [0, 1)", spec, validation_fraction);
  Corpus c{std::string(spec), {}, {}};
  for (auto& d : read_documents(spec))
    (in_validation(d.text, validation_fraction) ? c.validation : c.train).push_back(std::move(d));
  return c;
}

std::string join_documents(const std::vector<Document>& docs, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i) out += sep;
    out += docs[i].text;
  }
  return out;
}

std::string corpus_help() {
  std::string s;
  for (const auto& c : kCorpora) s += fmt::format("\n  {:<10} {}", c.name, c.description);
  s += "\n  file:PATH  a UTF-8 text file, one document per blank-line-separated paragraph";
  return s;
}

std::string corpus_names() {
  std::string s;
  for (const auto& c : kCorpora) s += fmt::format("{}, ", c.name);
  return s + "file:PATH";
}

}  // namespace loft::text
