// Corpora from the Debian packages (skipped with a message when not installed) and from files;
// the deterministic split.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/error.hpp"
#include "packages.hpp"
#include "support.hpp"
#include "text/corpus.hpp"

using namespace loft;
namespace fs = std::filesystem;

namespace {

std::set<std::string> labels(const std::vector<text::Document>& docs) {
  std::set<std::string> out;
  for (const auto& d : docs) out.insert(d.label);
  return out;
}

}  // namespace

TEST_CASE("corpus: fortunes are %-separated quotes labelled by topic") {
  REQUIRE_PACKAGE_FILE("/usr/share/games/fortunes/computers");
  const auto docs = text::read_documents("fortunes");
  CHECK(docs.size() > 5000);
  const auto l = labels(docs);
  CHECK(l.count("computers"));
  CHECK(l.count("science"));
  CHECK(l.size() >= 30);
  for (const auto& d : docs) {
    REQUIRE_FALSE(d.text.empty());
    REQUIRE(d.text.find("\n%\n") == std::string::npos);
    REQUIRE(d.text.back() != '\n');
  }
}

TEST_CASE("corpus: jargon entries are labelled by headword") {
  REQUIRE_PACKAGE_FILE("/usr/share/doc/jargon-text/jargon.txt.gz");
  const auto docs = text::read_documents("jargon");
  CHECK(docs.size() > 2000);
  const auto it =
      std::find_if(docs.begin(), docs.end(), [](const auto& d) { return d.label == "camelCase"; });
  REQUIRE(it != docs.end());
  CHECK(it->text.starts_with(":camelCase:"));
  CHECK(it->text.find("thisVeryLongName") != std::string::npos);
  CHECK_FALSE(labels(docs).count("Glossary"));
}

TEST_CASE("corpus: kjv is 1189 chapters from the bible program") {
  REQUIRE_PACKAGE_FILE("/usr/lib/bible.data");
  REQUIRE_PACKAGE_FILE("/usr/bin/bible");
  const auto docs = text::read_documents("kjv");
  CHECK(docs.size() == 1189);
  CHECK(docs.front().label == "Ge");
  CHECK(docs.front().text.starts_with("In the beginning God created the heaven and the earth.\n"));
  CHECK(docs.back().label == "Rev");
  CHECK(docs.back().text.ends_with("The grace of our Lord Jesus Christ be with you all. Amen."));
  CHECK(labels(docs).size() == 66);
  CHECK(text::join_documents(docs).size() > 4'000'000);
}

TEST_CASE("corpus: file paragraphs and the deterministic split") {
  const fs::path p = fs::temp_directory_path() / ("loftlab-corpus-" + std::to_string(::getpid()));
  {
    std::ofstream out(p);
    for (int i = 0; i < 2000; ++i) out << "Paragraph " << i << " line one.\nline two.\n\n  \n";
  }
  const auto docs = text::read_documents("file:" + p.string());
  REQUIRE(docs.size() == 2000);
  CHECK(docs[7].text == "Paragraph 7 line one.\nline two.");
  const auto a = text::load_corpus("file:" + p.string(), 0.1);
  const auto b = text::load_corpus("file:" + p.string(), 0.1);
  CHECK(a.validation.size() > 150);
  CHECK(a.validation.size() < 250);
  CHECK(a.train.size() + a.validation.size() == 2000);
  CHECK(text::join_documents(a.validation) == text::join_documents(b.validation));
  for (const auto& d : a.validation) REQUIRE(text::in_validation(d.text, 0.1));
  for (const auto& d : a.train) REQUIRE_FALSE(text::in_validation(d.text, 0.1));
  // A larger fraction only adds documents to validation.
  const auto c = text::load_corpus("file:" + p.string(), 0.3);
  std::set<std::string> wide;
  for (const auto& d : c.validation) wide.insert(d.text);
  for (const auto& d : a.validation) CHECK(wide.count(d.text));
  CHECK(text::load_corpus("file:" + p.string(), 0.0).validation.empty());
  CHECK_THROWS_WITH(text::load_corpus("file:" + p.string(), 1.0), Catch::Contains("[0, 1)"));
  fs::remove(p);
  CHECK_THROWS_WITH(text::read_documents("file:" + p.string()), Catch::Contains(p.string()));
}

TEST_CASE("corpus: missing packages and unknown names are explained") {
  const fs::path empty = fs::temp_directory_path() / ("loftlab-root-" + std::to_string(::getpid()));
  fs::create_directories(empty);
  ::setenv("LOFTLAB_CORPUS_ROOT", empty.c_str(), 1);
  CHECK_THROWS_WITH(text::read_documents("fortunes"),
                    Catch::Contains("make deps") && Catch::Contains("fortunes") &&
                        Catch::Contains("/usr/share/games/fortunes"));
  CHECK_THROWS_WITH(text::read_documents("jargon"),
                    Catch::Contains("make deps") && Catch::Contains("jargon-text"));
  CHECK_THROWS_WITH(text::read_documents("kjv"),
                    Catch::Contains("make deps") && Catch::Contains("bible-kjv-text"));
  ::unsetenv("LOFTLAB_CORPUS_ROOT");
  fs::remove(empty);
  CHECK_THROWS_WITH(text::read_documents("wikitext"),
                    Catch::Contains("unknown corpus 'wikitext'") && Catch::Contains("kjv") &&
                        Catch::Contains("file:PATH"));
}
