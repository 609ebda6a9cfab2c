// Only a valid point file is a point: check_point_file's verdicts, and merge refusing the rest.
#include <fstream>

#include "common/error.hpp"
#include "io/results/h5.hpp"
#include "io/results/merge.hpp"
#include "io/results/store.hpp"
#include "results/edit.hpp"
#include "results/fixtures.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using namespace loft::results;
using Catch::Matchers::Contains;
using loft::test::sample_record;
using loft::test::ScratchDir;
using State = PointFileCheck::State;

namespace {

// Point `id`'s file with one attribute of /points/<id> deleted or replaced (and sealed again).
void edit_attr(const fs::path& file, const std::string& id, const char* attr, const Value* value) {
  loft::test::edit_h5_file(file, [&](hid_t f) {
    h5::Handle g = h5::open_group(f, "points/" + id, "edit");
    h5::check(H5Adelete(g, attr), "delete");
    if (value) h5::write_attr(g, attr, *value, "edit");
  });
}

}  // namespace

TEST_CASE("check_point_file: valid, absent, and every kind of invalid") {
  ScratchDir dir;
  write_point(dir.path, "good", sample_record("loftq", 2), {"t", ""});
  auto c = check_point_file(dir.path, "good");
  CHECK(c.state == State::valid);
  CHECK(c.header.record.params.at("method") == Value(std::string("loftq")));
  CHECK(check_point_file(dir.path, "none").state == State::absent);

  auto invalid = [&](const std::string& id) {
    const auto r = check_point_file(dir.path, id);
    CHECK(r.state == State::invalid);
    return r.problem;
  };
  fs::copy_file(point_path(dir.path, "good"), point_path(dir.path, "nostatus"));
  edit_attr(point_path(dir.path, "nostatus"), "good", "status", nullptr);
  fs::rename(point_path(dir.path, "nostatus"), point_path(dir.path, "good2"));
  CHECK_THAT(invalid("good2"), Contains("not exactly the group 'good2'"));

  write_point(dir.path, "nostatus", sample_record("loftq", 2), {});
  edit_attr(point_path(dir.path, "nostatus"), "nostatus", "status", nullptr);
  CHECK_THAT(invalid("nostatus"), Contains("no 'status' attribute"));
  write_point(dir.path, "odd", sample_record("loftq", 2), {});
  const Value maybe = std::string("maybe");
  edit_attr(point_path(dir.path, "odd"), "odd", "status", &maybe);
  CHECK_THAT(invalid("odd"), Contains("status 'maybe'"));
  write_point(dir.path, "liar", sample_record("loftq", 2), {});
  const Value other = std::string("someone");
  edit_attr(point_path(dir.path, "liar"), "liar", "id", &other);
  CHECK_THAT(invalid("liar"), Contains("says its id is 'someone'"));
  loft::results::Record bare = sample_record("loftq", 2);
  bare.params.clear();
  write_point(dir.path, "bare", bare, {});
  CHECK_THAT(invalid("bare"), Contains("no parameters"));
  fs::create_directory(point_path(dir.path, "folder"));
  CHECK(check_point_file(dir.path, "folder").folder);
  fs::create_symlink(point_path(dir.path, "good"), point_path(dir.path, "link"));
  CHECK_THAT(invalid("link"), Contains("symbolic link"));
  std::ofstream(point_path(dir.path, "junk")) << "not hdf5";
  CHECK_THAT(invalid("junk"), Contains("junk.h5"));
  // Folders and links are not listed as points at all.
  const auto ids = point_file_ids(dir.path);
  CHECK(std::find(ids.begin(), ids.end(), "folder") == ids.end());
  CHECK(std::find(ids.begin(), ids.end(), "link") == ids.end());
}

TEST_CASE("merge refuses an invalid point file and runs the caller's check on each point") {
  ScratchDir dir;
  write_point(dir.path, "a", sample_record("loftq", 2), {});
  write_point(dir.path, "b", sample_record("qlora", 0), {});
  edit_attr(point_path(dir.path, "b"), "b", "status", nullptr);
  CHECK_THROWS_WITH(merge(dir.path),
                    Contains("b.h5 is not a valid point file") && Contains("status"));
  fs::remove(point_path(dir.path, "b"));
  fs::create_directory(point_path(dir.path, "c"));  // a folder is no point: not merged
  CHECK(merge(dir.path).points == 1);
  std::vector<std::string> seen;
  merge(dir.path, [&](const StoredPoint& p) { seen.push_back(p.id); });
  CHECK(seen == std::vector<std::string>{"a"});
  CHECK_THROWS_WITH(merge(dir.path, [](const StoredPoint&) { throw loft::Error("not its id"); }),
                    Contains("not its id"));
}

TEST_CASE("an unsigned parameter beyond int64 is an error, not clipped") {
  ScratchDir dir;
  write_point(dir.path, "big", sample_record("loftq", 2), {});
  loft::test::edit_h5_file(point_path(dir.path, "big"), [](hid_t f) {
    h5::Handle g = h5::open_group(f, "points/big", "edit");
    h5::Handle space(H5Screate(H5S_SCALAR), H5Sclose, "space");
    h5::Handle a(H5Acreate2(g, "huge", H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                 "attr");
    const uint64_t v = UINT64_MAX;
    h5::check(H5Awrite(a, H5T_NATIVE_UINT64, &v), "write");
  });
  CHECK_THAT(check_point_file(dir.path, "big").problem,
             Contains("'huge'") && Contains("18446744073709551615"));
}
