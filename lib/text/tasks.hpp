#pragma once
// Labelled classification tasks from real text that Debian ships, or from the user's own file:
//   fortunes:CATS      topic of a fortune; CATS = topic files joined by + (computers+love; ',' too
//                      outside a sweep grid, where ',' separates values) or
//                      `all` (every topic with at least min_per_class quotes); package fortunes
//   kjv:testament      Old vs New Testament of a verse; packages bible-kjv, bible-kjv-text
//   kjv:books          book of a verse (books with at least min_per_class verses)
//   wordnet:supersense lexicographer file (noun.animal, verb.motion, ...) of a synset from its
//                      gloss (files with at least min_per_class synsets); package wordnet-base
//   file:PATH.tsv      one example per line, label<TAB>text
//
// Preparation, the same for every task: texts are deduplicated (a text seen under two labels is
// dropped: it has no answer); each class is down-sampled to min(smallest class, max_per_class)
// keeping the examples of lowest text hash, so classes are balanced and the choice is stable; the
// split is by a hash of the text (independent of order and of the other examples): the lowest
// `test` fraction of the hash range is test, the next `validation` fraction validation.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace loft::text {

struct Example {
  std::string text;
  int label = 0;  // index into Task::labels
};

struct TaskOptions {
  int max_per_class = 1000;  // cap of each class after balancing (> 0)
  int min_per_class = 20;    // the `all`-style tasks drop smaller classes (explicit ones fail)
  double validation = 0.1, test = 0.1;
};

struct Task {
  std::string spec;
  std::vector<std::string> labels;  // sorted
  std::vector<Example> train, validation, test;
  // Examples of each label in a split (the point records them).
  std::vector<int> counts(const std::vector<Example>& split) const;
};

// A raw labelled example before preparation.
struct LabelledText {
  std::string text, label;
};

// Reads and prepares a task; errors name the spec, the package or the offending category.
Task load_task(std::string_view spec, const TaskOptions& opt = {});

// The preparation step on its own (for tests and for loaders): dedupe, balance, split.
Task prepare_task(std::string_view spec, std::vector<LabelledText> raw, const TaskOptions& opt,
                  bool drop_small_classes);

// Where the text's hash puts it: 0 train, 1 validation, 2 test.
int split_of(std::string_view text, const TaskOptions& opt);

// Names and one-line descriptions, for --help texts.
std::string task_help();

}  // namespace loft::text
