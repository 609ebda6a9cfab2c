// The classification task registry and the shared preparation (dedupe, balance, split).
#include "text/tasks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <set>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/rng.hpp"
#include "common/text.hpp"
#include "text/corpus.hpp"

namespace loft::text {
namespace {

namespace fs = std::filesystem;

// A task file or package file larger than this is not a classification data set we can hold.
constexpr size_t kMaxTaskFile = size_t{1} << 30;

// The hash of a text as a number in [0, 1): a salt other than the corpus split's, so a task's
// test set is not the corpus' validation set.
double text_position(std::string_view text, uint64_t salt = 0x7a5c) {
  return static_cast<double>(derive_seed(salt, text) >> 11) * 0x1p-53;
}

// The order in which a class is down-sampled: another hash, independent of the split's, so the
// kept examples spread over the splits in proportion.
double sample_position(std::string_view text) {
  return text_position(text, 0x5a3b1e);
}

std::vector<LabelledText> fortunes(std::string_view arg, bool& drop_small) {
  std::vector<LabelledText> out;
  const auto docs = read_documents("fortunes");
  drop_small = arg == "all";
  if (drop_small) {
    for (const auto& d : docs) out.push_back({d.text, d.label});
    return out;
  }
  std::set<std::string> have;
  for (const auto& d : docs) have.insert(d.label);
  std::set<std::string> want;
  // '+' separates categories inside a sweep grid, where ',' separates the grid's values.
  std::string list(arg);
  std::replace(list.begin(), list.end(), '+', ',');
  for (auto c : split_list(list)) {
    if (!have.count(std::string(c)))
      fail("task fortunes:{}: category '{}' has no quotes in {} (categories: {})", arg, c,
           package_path("/usr/share/games/fortunes"), join(have, ", "));
    want.insert(std::string(c));
  }
  for (const auto& d : docs)
    if (want.count(d.label)) out.push_back({d.text, d.label});
  return out;
}

std::vector<LabelledText> kjv(std::string_view arg, bool& drop_small) {
  if (arg != "testament" && arg != "books")
    fail("task kjv:{}: unknown; valid: kjv:testament, kjv:books", arg);
  drop_small = arg == "books";
  std::vector<LabelledText> out;
  bool new_testament = false;
  for (const auto& chapter : read_documents("kjv")) {
    // Chapters come in canonical order; Matthew opens the New Testament.
    if (chapter.label == "Mat") new_testament = true;
    const std::string label = arg == "books" ? chapter.label : new_testament ? "new" : "old";
    for (auto verse : split(chapter.text, '\n'))
      if (!trim(verse).empty()) out.push_back({std::string(trim(verse)), label});
  }
  return out;
}

// lexnames(5) of WordNet 3: the lexicographer file of number i.
constexpr std::array<const char*, 45> kLexNames{
    "adj.all",          "adj.pert",           "adv.all",
    "noun.Tops",        "noun.act",           "noun.animal",
    "noun.artifact",    "noun.attribute",     "noun.body",
    "noun.cognition",   "noun.communication", "noun.event",
    "noun.feeling",     "noun.food",          "noun.group",
    "noun.location",    "noun.motive",        "noun.object",
    "noun.person",      "noun.phenomenon",    "noun.plant",
    "noun.possession",  "noun.process",       "noun.quantity",
    "noun.relation",    "noun.shape",         "noun.state",
    "noun.substance",   "noun.time",          "verb.body",
    "verb.change",      "verb.cognition",     "verb.communication",
    "verb.competition", "verb.consumption",   "verb.contact",
    "verb.creation",    "verb.emotion",       "verb.motion",
    "verb.perception",  "verb.possession",    "verb.social",
    "verb.stative",     "verb.weather",       "adj.ppl"};

// One synset per line of data.POS: "offset lexfile pos ... | gloss"; licence lines start "  ".
std::vector<LabelledText> wordnet(std::string_view arg, bool& drop_small) {
  if (arg != "supersense") fail("task wordnet:{}: unknown; valid: wordnet:supersense", arg);
  drop_small = true;
  std::vector<LabelledText> out;
  for (const char* pos : {"noun", "verb", "adj", "adv"}) {
    const std::string path = package_path(fmt::format("/usr/share/wordnet/data.{}", pos).c_str());
    if (!fs::exists(path)) missing_package("task wordnet:supersense", "wordnet-base", path);
    const std::string data = read_regular_file(path, "WordNet data file", kMaxTaskFile);
    for (auto line : split(data, '\n')) {
      if (line.empty() || line.starts_with(' ')) continue;
      const auto fields = split(line, ' ');
      const size_t bar = line.find(" | ");
      int lex = -1;
      if (fields.size() > 2 && fields[1].size() == 2) lex = std::stoi(std::string(fields[1]));
      if (bar == std::string_view::npos || lex < 0 || lex >= int(kLexNames.size()))
        fail("{}: unexpected line '{}'", path, line.substr(0, 80));
      const auto gloss = trim(line.substr(bar + 3));
      if (!gloss.empty()) out.push_back({std::string(gloss), kLexNames[lex]});
    }
  }
  return out;
}

std::vector<LabelledText> tsv_file(std::string_view arg, bool& drop_small) {
  drop_small = false;
  const std::string data = read_regular_file(std::string(arg), "task file", kMaxTaskFile);
  std::vector<LabelledText> out;
  int lineno = 0;
  for (auto line : split(data, '\n')) {
    ++lineno;
    if (trim(line).empty()) continue;
    const size_t tab = line.find('\t');
    if (tab == std::string_view::npos || trim(line.substr(0, tab)).empty() ||
        trim(line.substr(tab + 1)).empty())
      fail("task file:{}: line {} is '{}', not label<TAB>text", arg, lineno, line.substr(0, 80));
    out.push_back(
        {std::string(trim(line.substr(tab + 1))), std::string(trim(line.substr(0, tab)))});
  }
  return out;
}

struct TaskKind {
  const char* name;
  const char* usage;
  const char* description;
  std::vector<LabelledText> (*read)(std::string_view arg, bool& drop_small);
};

const std::array<TaskKind, 4> kTasks{{
    {"fortunes", "fortunes:CATS|all",
     "topic of a fortune quote, CATS topic files joined by + or , (package fortunes)", fortunes},
    {"kjv", "kjv:testament|books",
     "testament or book of a King James verse (packages bible-kjv, bible-kjv-text)", kjv},
    {"wordnet", "wordnet:supersense",
     "lexicographer file of a WordNet synset from its gloss (package wordnet-base)", wordnet},
    {"file", "file:PATH.tsv", "the researcher's own data, one label<TAB>text per line", tsv_file},
}};

}  // namespace

std::vector<int> Task::counts(const std::vector<Example>& split) const {
  std::vector<int> c(labels.size(), 0);
  for (const auto& e : split) ++c[e.label];
  return c;
}

int split_of(std::string_view text, const TaskOptions& opt) {
  const double x = text_position(text);
  return x < opt.test ? 2 : x < opt.test + opt.validation ? 1 : 0;
}

Task prepare_task(std::string_view spec, std::vector<LabelledText> raw, const TaskOptions& opt,
                  bool drop_small_classes) {
  if (opt.max_per_class < 1)
    fail("task {}: max_per_class = {} must be >= 1", spec, opt.max_per_class);
  if (!(opt.validation > 0 && opt.test > 0 && opt.validation + opt.test < 1))
    fail("task {}: validation {} and test {} fractions must be > 0 with a sum below 1", spec,
         opt.validation, opt.test);
  // Dedupe: a text with one label keeps it; a text seen under two labels is dropped.
  std::map<std::string, std::string> label_of;
  std::set<std::string> ambiguous;
  for (auto& r : raw) {
    auto [it, fresh] = label_of.try_emplace(r.text, r.label);
    if (!fresh && it->second != r.label) ambiguous.insert(r.text);
  }
  std::map<std::string, std::vector<std::pair<double, std::string>>> by_label;
  for (auto& [t, l] : label_of)
    if (!ambiguous.count(t)) by_label[l].emplace_back(sample_position(t), t);
  if (drop_small_classes)
    std::erase_if(by_label, [&](const auto& kv) {
      return static_cast<int>(kv.second.size()) < opt.min_per_class;
    });
  if (by_label.size() < 2)
    fail("task {}: {} class(es) ({}) after deduplication{}; a classification needs two at least",
         spec, by_label.size(), join(by_label, ", ", [](const auto& kv) { return kv.first; }),
         drop_small_classes
             ? fmt::format(" and dropping classes under {} examples", opt.min_per_class)
             : "");
  size_t per_class = static_cast<size_t>(opt.max_per_class);
  for (const auto& [l, v] : by_label) per_class = std::min(per_class, v.size());
  Task task;
  task.spec = std::string(spec);
  for (auto& [l, v] : by_label) {
    const int id = static_cast<int>(task.labels.size());
    task.labels.push_back(l);
    std::sort(v.begin(), v.end());  // lowest hashes first: a stable, order-free sample
    v.resize(per_class);
    for (auto& [pos, t] : v) {
      const int s = split_of(t, opt);
      (s == 2 ? task.test : s == 1 ? task.validation : task.train).push_back({std::move(t), id});
    }
  }
  for (const auto* s : {&task.train, &task.validation, &task.test})
    if (s->empty())
      fail(
          "task {}: {} examples per class leave a split empty; use more data or larger "
          "max_per_class",
          spec, per_class);
  // Shuffle-free but class-interleaved order: sort by hash so batches mix the classes.
  for (auto* s : {&task.train, &task.validation, &task.test})
    std::sort(s->begin(), s->end(), [](const Example& a, const Example& b) {
      return text_position(a.text) > text_position(b.text);
    });
  return task;
}

Task load_task(std::string_view spec, const TaskOptions& opt) {
  const size_t colon = spec.find(':');
  const std::string_view name = spec.substr(0, colon);
  const std::string_view arg = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
  for (const auto& k : kTasks)
    if (name == k.name) {
      if (arg.empty()) fail("task '{}': needs an argument, as in {}", spec, k.usage);
      bool drop_small = false;
      auto raw = k.read(arg, drop_small);
      return prepare_task(spec, std::move(raw), opt, drop_small);
    }
  fail("unknown task '{}'; valid tasks:{}", spec, task_help());
}

std::string task_help() {
  std::string s;
  for (const auto& k : kTasks) s += fmt::format("\n  {:<20} {}", k.usage, k.description);
  return s;
}

}  // namespace loft::text
