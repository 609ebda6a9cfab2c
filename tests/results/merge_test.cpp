// merge: results.h5 = every point + /summary; idempotent; temp + rename; readable by pandas.
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "io/results/h5.hpp"
#include "io/results/merge.hpp"
#include "io/results/store.hpp"
#include "io/results/summary.hpp"
#include "results/fixtures.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
namespace h5 = loft::results::h5;
using namespace loft::results;
using Catch::Matchers::Contains;
using loft::test::sample_record;
using loft::test::ScratchDir;

namespace {

// Every attribute and dataset of a file as text, in name order, skipping the root `created`:
// two files with the same dump hold the same content.
void dump_group(hid_t g, const std::string& path, std::ostringstream& out) {
  for (const auto& a : h5::attr_names(g, path)) {
    if (path == "/" && a == "created") continue;
    Value v = h5::read_attr(g, a, path);
    out << path << " @" << a << " = " << v.index() << ":" << format_value(v) << "\n";
  }
  for (const auto& name : h5::children(g, path)) {
    std::string child = (path == "/" ? "/" : path + "/") + name;
    H5O_info_t info;
    h5::check(H5Oget_info_by_name(g, name.c_str(), &info, H5P_DEFAULT), child);
    if (info.type == H5O_TYPE_GROUP) {
      h5::Handle sub = h5::open_group(g, name, path);
      dump_group(sub, child, out);
    } else if (child != "/summary") {
      out << child << " =";
      for (double x : h5::read_doubles(g, name, path)) out << " " << fmt::format("{}", x);
      out << "\n";
    }
  }
}

std::string dump(const fs::path& file) {
  std::ostringstream out;
  h5::Handle f = h5::open_file(file);
  dump_group(f, "/", out);
  if (h5::has_link(f, "summary")) {
    Summary s = read_summary(file);
    for (const auto& c : s.columns)
      out << "summary column " << c.name << " kind " << int(c.kind) << "\n";
    out << format_table(s);
  }
  return out.str();
}

double real(const Summary& s, const std::string& col, size_t row) {
  return std::get<double>(s.column(col).values.at(row));
}

}  // namespace

TEST_CASE("merge copies every point and builds a summary sorted by id") {
  ScratchDir dir;
  std::map<std::string, Record> written;
  for (auto [id, method] : {std::pair{"cc", "loftq"}, {"aa", "qlora"}, {"bb", "qpissa"}}) {
    written[id] = sample_record(method, 2, id[0] - 'a');
    write_point(dir.path, id, written[id], {"quick", "cfg"});
  }
  MergeResult m = merge(dir.path);
  REQUIRE(m.file == dir.path / "results.h5");
  REQUIRE(m.points == 3);
  REQUIRE(point_ids(m.file) == std::vector<std::string>{"aa", "bb", "cc"});
  for (const auto& [id, r] : written) {
    StoredPoint p = read_point(m.file, id);
    REQUIRE(p.record.params == r.params);
    REQUIRE(p.record.layers == r.layers);
    REQUIRE(p.record.metrics == r.metrics);
    REQUIRE(p.record.train == r.train);
  }
  FileInfo info = read_file_info(m.file);
  REQUIRE(info.name == "quick");
  REQUIRE(info.config == "cfg");

  Summary s = read_summary(m.file);
  REQUIRE(s.rows() == 3);
  REQUIRE(s.columns[0].name == "id");
  REQUIRE(s.columns[1].name == "status");
  REQUIRE(s.column("id").values == std::vector<Value>{"aa", "bb", "cc"});
  REQUIRE(s.column("method").values == std::vector<Value>{"qlora", "qpissa", "loftq"});
  REQUIRE(real(s, "mean_residual_rel", 2) == 0.05 + 2);
  // No temporary left next to results.h5.
  for (const auto& e : fs::directory_iterator(dir.path))
    REQUIRE(e.path().filename().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("summary columns over mixed parameter sets: NaN or empty where a point lacks a key") {
  ScratchDir dir;
  Record q = sample_record("qlora", 0);  // no steps, no err_reduction_fro
  q.params["lr"] = int64_t{1};
  Record l = sample_record("loftq", 5);
  l.params["lr"] = 0.5;
  l.params["svd"] = std::string("randomized");
  write_point(dir.path, "a-qlora", q, {});
  write_point(dir.path, "b-loftq", l, {});
  Summary s = read_summary(merge(dir.path).file);

  REQUIRE(s.column("rank").kind == Column::Kind::Int);  // an integer in every point
  REQUIRE(s.column("rank").values == std::vector<Value>{int64_t{8}, int64_t{8}});
  REQUIRE(s.column("steps").kind == Column::Kind::Real);  // absent from qlora
  REQUIRE(std::isnan(real(s, "steps", 0)));
  REQUIRE(real(s, "steps", 1) == 5.0);
  REQUIRE(s.column("lr").kind == Column::Kind::Real);  // 1 and 0.5
  REQUIRE(s.column("lr").values == std::vector<Value>{1.0, 0.5});
  REQUIRE(s.column("svd").kind == Column::Kind::Text);
  REQUIRE(s.column("svd").values == std::vector<Value>{"", "randomized"});
  REQUIRE(std::isnan(real(s, "err_reduction_fro", 0)));
  REQUIRE(real(s, "err_reduction_fro", 1) == 0.25);
  REQUIRE(s.column("status").values == std::vector<Value>{"complete", "complete"});
  // Columns: id, status, parameters by name, then metrics by name.
  std::vector<std::string> names;
  for (const auto& c : s.columns) names.push_back(c.name);
  REQUIRE(names == std::vector<std::string>{"id", "status", "experiment", "lr", "method", "quant",
                                            "rank", "seed", "steps", "svd", "bits_per_weight",
                                            "err_reduction_fro", "mean_residual_rel"});
}

TEST_CASE("merging twice gives the same content apart from `created`; new points are picked up") {
  ScratchDir dir;
  write_point(dir.path, "x1", sample_record("loftq", 3), {"idem", "c"});
  write_point(dir.path, "x2", sample_record("qlora", 0, 0.25), {"idem", "c"});
  std::ofstream(dir.path / "config.ini") << "name = idem\n";
  fs::path file = merge(dir.path).file;
  std::string first = dump(file);
  auto size = fs::file_size(file);
  REQUIRE(first.find("/points/x1/layers/model.layers.0.self_attn.q_proj.weight/residual_fro") !=
          std::string::npos);
  REQUIRE(read_file_info(file).config == "name = idem\n");  // config.ini wins

  REQUIRE(merge(dir.path).points == 2);
  REQUIRE(dump(file) == first);
  REQUIRE(fs::file_size(file) == size);  // no object timestamps: same bytes but `created`

  write_point(dir.path, "x0", sample_record("qpissa", 1), {"idem", "c"});
  merge(dir.path);
  REQUIRE(dump(file) != first);
  REQUIRE(read_summary(file).column("id").values == std::vector<Value>{"x0", "x1", "x2"});
}

TEST_CASE("merge ignores and removes temporaries of dead writers") {
  ScratchDir dir;
  write_point(dir.path, "ok", sample_record("qlora", 0), {});
  std::ofstream(dir.path / "points" / (".dead.h5.tmp." + host_name() + ".999999999-0")) << "junk";
  REQUIRE(merge(dir.path).points == 1);
  REQUIRE(point_ids(dir.path / "results.h5") == std::vector<std::string>{"ok"});
  REQUIRE_FALSE(fs::exists(dir.path / "points" / (".dead.h5.tmp." + host_name() + ".999999999-0")));
}

TEST_CASE("merge errors name the folder or file at fault") {
  ScratchDir dir;
  REQUIRE_THROWS_WITH(merge(dir.path / "nope"),
                      Contains("nope") && Contains("no such results folder"));
  REQUIRE_THROWS_WITH(merge(dir.path), Contains("no points/ subfolder"));
  write_point(dir.path, "a", sample_record("qlora", 0), {});
  fs::copy_file(point_path(dir.path, "a"), point_path(dir.path, "z"));
  REQUIRE_THROWS_WITH(merge(dir.path), Contains("z.h5") && Contains("holds 'a' under /points") &&
                                           Contains("not exactly the group 'z'"));
  fs::remove(point_path(dir.path, "z"));
  std::ofstream(point_path(dir.path, "broken")) << "truncated";
  REQUIRE_THROWS_WITH(merge(dir.path), Contains("broken.h5"));
  REQUIRE_FALSE(fs::exists(dir.path / "results.h5"));  // a failed merge leaves no results.h5
}

TEST_CASE("an empty points folder merges into an empty summary") {
  ScratchDir dir;
  fs::create_directories(dir.path / "points");
  MergeResult m = merge(dir.path);
  REQUIRE(m.points == 0);
  Summary s = read_summary(m.file);
  REQUIRE(s.rows() == 0);
  REQUIRE(s.find("id") != nullptr);
}

TEST_CASE("point files and results.h5 read in Python: h5py types, pandas summary") {
  if (std::system("/usr/bin/python3 -c 'import h5py, pandas' >/dev/null 2>&1") != 0) {
    WARN("skipped: /usr/bin/python3 with h5py and pandas not available");
    return;
  }
  ScratchDir dir;
  Record q = sample_record("qlora", 0);
  q.params["note"] = std::string("ünï");
  write_point(dir.path, "a", q, {"py", "cfg"});
  write_point(dir.path, "b", sample_record("loftq", 2), {"py", "cfg"});
  merge(dir.path);
  fs::path script = dir.path / "check.py";
  std::ofstream(script) << R"PY(
import sys, math, h5py, numpy as np, pandas as pd
d = sys.argv[1]
with h5py.File(d + "/points/a.h5", "r") as f:
    for k in ("loftlab_version", "git_commit", "created", "config", "name"):
        assert isinstance(f.attrs[k], str), (k, type(f.attrs[k]))
    g = f["points/a"]
    assert g.attrs["method"] == "qlora" and isinstance(g.attrs["method"], str)
    assert g.attrs["note"] == "ünï"
    assert isinstance(g.attrs["rank"], np.int64) and g.attrs["rank"] == 8
    assert isinstance(g.attrs["seconds"], np.float64)
    assert g.attrs["status"] == "complete" and g.attrs["id"] == "a"
    assert "model.layers.0.self_attn.q_proj.weight" in g["layers"]
    r = g["layers/model.layers.0.self_attn.q_proj.weight/residual_fro"]
    assert r.dtype == np.float64 and r.shape == (1,)
    assert g["metrics/bits_per_weight"][()] == 4.5
with h5py.File(d + "/results.h5", "r") as f:
    assert sorted(f["points"]) == ["a", "b"]
    df = pd.DataFrame(f["summary"][:])
df = df.apply(lambda c: c.str.decode("utf-8") if c.dtype == object else c)
assert list(df["id"]) == ["a", "b"], df
assert list(df["method"]) == ["qlora", "loftq"]
assert df["rank"].dtype == np.int64
assert math.isnan(df["steps"][0]) and df["steps"][1] == 2
assert math.isnan(df["err_reduction_fro"][0])
assert list(df["note"]) == ["ünï", ""]
print("ok")
)PY";
  std::string cmd = "/usr/bin/python3 " + script.string() + " " + dir.path.string();
  REQUIRE(std::system(cmd.c_str()) == 0);
}

TEST_CASE("a failed point keeps its error message; the summary gains an error column") {
  ScratchDir dir;
  Record ok = sample_record("qlora", 0);
  write_point(dir.path, "a", ok, {});
  REQUIRE(read_summary(merge(dir.path).file).find("error") == nullptr);  // nobody failed

  Record bad;
  bad.params = ok.params;
  bad.status = "failed";
  bad.error = "tensor 'x': NaN at (0, 3)";
  write_point(dir.path, "b", bad, {});
  REQUIRE(read_point_file(point_path(dir.path, "b")).record.error == bad.error);
  REQUIRE(read_point_file(point_path(dir.path, "a")).record.error.empty());
  Summary s = read_summary(merge(dir.path).file);
  REQUIRE(s.column("status").values == std::vector<Value>{"complete", "failed"});
  REQUIRE(s.column("error").values == std::vector<Value>{"", bad.error});
  REQUIRE(std::isnan(std::get<double>(s.column("mean_residual_rel").values[1])));
}
