#pragma once
// Text corpora for pretraining, fine-tuning and perplexity, from Debian packages (installed by
// `make deps`) or any file, as documents:
//   fortunes   /usr/share/games/fortunes/*: one document per %-separated quote, label = topic
//              file (art, computers, ...); package fortunes
//   jargon     /usr/share/doc/jargon-text/jargon.txt.gz: one document per lexicon entry
//              (label = headword) and per chapter/appendix section (label = its heading); the
//              glossary index is left out; package jargon-text
//   kjv        the King James Bible as printed by `bible -f Gen1:1-Rev22:21` (packages
//              bible-kjv + bible-kjv-text): one document per chapter, one verse per line,
//              label = the book's abbreviation (Ge, Exo, ...)
//   file:PATH  a UTF-8 text file: one document per paragraph (blank-line separated), label ""
//
// The train/validation split is by document and deterministic: a document goes to validation
// when FNV-1a-64(its text), mixed, falls in the lowest `validation_fraction` of the 64-bit range.
// It does not depend on document order, so adding documents never moves others, and identical
// documents always land on the same side (no leakage between the two).
#include <string>
#include <string_view>
#include <vector>

namespace loft::text {

struct Document {
  std::string text;
  std::string label;
};

struct Corpus {
  std::string spec;
  std::vector<Document> train, validation;
};

// Every document of the corpus in its natural order. Missing package files are errors telling
// the user to run `make deps` (and naming the package and the path).
std::vector<Document> read_documents(std::string_view spec);

bool in_validation(std::string_view document_text, double validation_fraction);

// read_documents split by in_validation; validation_fraction in [0, 1).
Corpus load_corpus(std::string_view spec, double validation_fraction = 0.1);

// The documents' texts joined by sep (what a language model trains on).
std::string join_documents(const std::vector<Document>& docs, std::string_view sep = "\n\n");

// Names and one-line descriptions, for --help texts.
std::string corpus_help();
// The names on one line ("fortunes, jargon, kjv, file:PATH"), for key help and errors.
std::string corpus_names();

// A package file's path under $LOFTLAB_CORPUS_ROOT (default: the file system root), so tests can
// check the missing-package message and users can point at an unpacked .deb.
std::string package_path(const char* path);

// Throws the error telling the user which Debian package(s) `what` needs and how to install them.
[[noreturn]] void missing_package(std::string_view what, std::string_view packages,
                                  std::string_view path);

}  // namespace loft::text
