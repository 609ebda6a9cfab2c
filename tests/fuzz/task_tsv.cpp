// A researcher's own labelled task (`file:PATH.tsv`, label<TAB>text per line): a loft::Error or a
// task whose splits are disjoint and whose every example has one of its labels.
#include <set>

#include "support.hpp"
#include "text/tasks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  loft::fuzz::fresh();
  const auto path = loft::fuzz::put("task.tsv", loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] {
    loft::text::TaskOptions opt;
    opt.min_per_class = 1;
    const auto task = loft::text::load_task("file:" + path.string(), opt);
    std::set<std::string> seen;
    for (const auto* split : {&task.train, &task.validation, &task.test})
      for (const auto& e : *split) {
        loft::fuzz::require(e.label >= 0 && e.label < static_cast<int>(task.labels.size()),
                            "every example has one of the task's labels");
        loft::fuzz::require(seen.insert(e.text).second, "the splits are disjoint");
      }
  });
  return 0;
}
