// The PIE-Bench loader against piebench-v1 (PnP Inversion's evaluate.py run on a 5-item set): RLE
// decoding and its edge cases, the mapping file's parse, prompt cleaning, blend words, the decoded
// source and (cropped) target pixels, the `piebench` dataset, bad inputs, and a toy dataset
// written in PIE-Bench's layout and read back. Every expected value comes from the fixture files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <functional>

#include "core/config.h"
#include "core/errors.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/safetensors.h"
#include "data/datasets.h"
#include "data/piebench.h"
#include "data/piebench_rle.h"
#include "data/piebench_write.h"
#include "image/io.h"
#include "test_support.h"

namespace d = diffedit::data;
using diffedit::config::Json;
using diffedit::testing::error_what;
using diffedit::testing::fixture;
using diffedit::testing::ScratchDir;
using diffedit::testing::write_bytes;

namespace {

const std::string kSet = "piebench-v1/";

Json load(const std::string& relative) { return diffedit::config::load_json(fixture(kSet + relative)); }

std::string sha256_of(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return diffedit::hash::sha256(std::string_view(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.nbytes())));
}

d::Rle rle_of(const Json& v) { return v.get<d::Rle>(); }

// A mapping file of one item over the fixture's first source image, with `change` applied.
std::filesystem::path one_item_mapping(const ScratchDir& dir, const std::function<void(Json&)>& change) {
  const Json mapping = load("data/mapping_file.json");
  Json item = mapping.begin().value();
  change(item);
  const auto path = dir / "mapping_file.json";
  write_bytes(path, Json{{mapping.begin().key(), item}}.dump());
  return path;
}

}  // namespace

TEST(PieBenchRle, CasesDecodeAsTheReference) {
  const Json cases = load("rle/cases.json");
  const auto decoded = diffedit::safetensors::File::open(fixture(kSet + "rle/decoded.safetensors"));
  ASSERT_GE(cases["cases"].size(), 10u);
  for (const auto& c : cases["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const std::int64_t H = c["image_shape"][0], W = c["image_shape"][1];
    const d::Rle rle = rle_of(c["rle"]);
    const at::Tensor raw = d::mask_decode_raw(rle, H, W);
    const at::Tensor mask = d::mask_decode(rle, H, W);
    EXPECT_EQ(mask.scalar_type(), at::kByte);
    EXPECT_TRUE(at::equal(mask, decoded.tensor(name + ".mask")));
    if (decoded.contains(name + ".raw_before_border")) {
      EXPECT_TRUE(at::equal(raw, decoded.tensor(name + ".raw_before_border")));
    }
    EXPECT_EQ(mask.sum().item<std::int64_t>(), c["sum"].get<std::int64_t>());
    EXPECT_EQ(raw.sum().item<std::int64_t>(), c["sum_before_border"].get<std::int64_t>());
    EXPECT_EQ((1 - mask).sum().item<std::int64_t>(), c["unedit_sum"].get<std::int64_t>());
    EXPECT_EQ(d::mask_encode(raw), rle_of(c["canonical_reencode_of_raw"]));
    EXPECT_TRUE(at::equal(d::mask_decode_raw(d::mask_encode(raw), H, W), raw)) << "canonical runs decode to the same mask";
  }
  // The default size is the reference's.
  EXPECT_EQ(d::mask_decode({}).sizes(), at::IntArrayRef(cases["mask_decode_default_image_shape"].get<std::vector<std::int64_t>>()));
}

TEST(PieBenchRle, InvalidInputsAreFormatErrorsNamingTheFileAndItem) {
  const Json cases = load("rle/cases.json");
  ASSERT_FALSE(cases["invalid_inputs"].empty());
  for (const auto& c : cases["invalid_inputs"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    ScratchDir dir;
    const auto mapping = one_item_mapping(dir, [&](Json& item) { item["mask"] = c["rle"]; });
    const std::string key = load("data/mapping_file.json").begin().key();
    try {
      d::read_mapping_file(mapping);
      ADD_FAILURE() << "accepted " << c["rle"];
    } catch (const diffedit::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(mapping.string() + ": " + key), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("mask"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(d::mask_decode_raw({3, 2, 7}, 4, 4), diffedit::FormatError);
  // Negative starts wrap like Python indices down to -H*W; below, the reference's index error.
  EXPECT_EQ(d::mask_encode(d::mask_decode_raw({-16, 2}, 4, 4)), (d::Rle{0, 2}));
  EXPECT_THROW(d::mask_decode_raw({-17, 2}, 4, 4), diffedit::FormatError);
  EXPECT_EQ(d::mask_decode_raw({-17, 0}, 4, 4).sum().item<std::int64_t>(), 0) << "an empty run is never indexed";
  EXPECT_EQ(d::mask_decode_raw({std::numeric_limits<std::int64_t>::max(), 5, 0, std::numeric_limits<std::int64_t>::max()}, 4, 4)
                .sum()
                .item<std::int64_t>(),
            16);
}

TEST(PieBenchParse, MappingFileMatchesTheReferenceParse) {
  const Json parse = load("expected/parse.json");
  const auto masks = diffedit::safetensors::File::open(fixture(kSet + "expected/masks.safetensors"));
  const auto items = d::read_mapping_file(fixture(kSet + "data/mapping_file.json"));
  ASSERT_EQ(items.size(), parse["items"].size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Json& e = parse["items"][i];
    const d::PieBenchItem& item = items[i];
    SCOPED_TRACE(item.key);
    EXPECT_EQ(item.key, e["key"]) << "file order";
    EXPECT_EQ(item.image_path, e["image_path"]);
    EXPECT_EQ(item.original_prompt, e["original_prompt_raw"]);
    EXPECT_EQ(item.editing_prompt, e["editing_prompt_raw"]);
    EXPECT_EQ(d::clean_prompt(item.original_prompt), e["original_prompt"]);
    EXPECT_EQ(d::clean_prompt(item.editing_prompt), e["editing_prompt"]);
    EXPECT_EQ(item.editing_instruction, e["editing_instruction"]);
    EXPECT_EQ(item.editing_type_id, e["editing_type_id"]);
    EXPECT_EQ(d::editing_type_name(item.editing_type_id), e["editing_type_name"]);
    EXPECT_EQ(item.blended_word, e["blended_word_raw"]);
    const auto words = d::split_blended_word(item.blended_word);
    EXPECT_EQ(words, e["blended_word"].get<std::vector<std::string>>());
    const auto blend = d::p2p_blend_words(words, item.key);
    if (e["p2p_blend_word"].is_null()) {
      EXPECT_FALSE(blend.has_value());
    } else {
      ASSERT_TRUE(blend.has_value());
      EXPECT_EQ((*blend)[0], e["p2p_blend_word"][0][0]);
      EXPECT_EQ((*blend)[1], e["p2p_blend_word"][1][0]);
    }
    EXPECT_EQ(item.mask.size() / 2, e["mask_num_runs"].get<std::size_t>());
    const at::Tensor mask = d::mask_decode(item.mask);
    EXPECT_EQ(mask.sizes(), at::IntArrayRef(e["mask_shape"].get<std::vector<std::int64_t>>()));
    EXPECT_EQ(mask.sum().item<std::int64_t>(), e["mask_sum"].get<std::int64_t>());
    EXPECT_EQ((1 - mask).sum().item<std::int64_t>(), e["unedit_sum"].get<std::int64_t>());
    EXPECT_EQ(sha256_of(mask), e["mask_sha256_u8"]);
    EXPECT_TRUE(at::equal(mask, masks.tensor("mask." + item.key)));
  }
}

TEST(PieBenchParse, PromptsBlendWordsAndTypeNamesFollowTheReferenceRules) {
  const Json parse = load("expected/parse.json");
  ASSERT_FALSE(parse["prompt_cases"].empty());
  for (const auto& c : parse["prompt_cases"]) EXPECT_EQ(d::clean_prompt(c["raw"].get<std::string>()), c["cleaned"]) << c["raw"];
  ASSERT_FALSE(parse["blended_word_cases"].empty());
  for (const auto& c : parse["blended_word_cases"])
    EXPECT_EQ(d::split_blended_word(c["raw"]), c["split"].get<std::vector<std::string>>()) << c["raw"];
  EXPECT_THROW(d::p2p_blend_words({"single"}, "item"), diffedit::FormatError) << "the reference's w[1] index error";

  EXPECT_EQ(d::all_editing_type_ids(), parse["edit_category_list_default"].get<std::vector<std::string>>());
  ASSERT_EQ(parse["edit_types"].size(), d::kEditingTypeNames.size());
  for (const auto& [id, name] : parse["edit_types"].items()) EXPECT_EQ(d::editing_type_name(id), name.get<std::string>()) << id;
  EXPECT_THROW(d::editing_type_name("10"), diffedit::InputError);
}

TEST(PieBenchImages, SourceAndCroppedTargetPixelsMatchTheReference) {
  const Json parse = load("expected/parse.json");
  const auto root = fixture(kSet + "data");
  const auto targets = fixture(kSet + "output/ddim+p2p/annotation_images");
  for (const auto& item : d::read_mapping_file(root / "mapping_file.json")) {
    const Json* e = nullptr;
    for (const auto& x : parse["items"])
      if (x["key"] == item.key) e = &x;
    ASSERT_NE(e, nullptr) << item.key;
    SCOPED_TRACE(item.key + " " + item.image_path);
    const at::Tensor src = d::load_source(root, item);
    EXPECT_EQ(src.scalar_type(), at::kByte);
    EXPECT_EQ((std::vector<std::int64_t>{src.size(1), src.size(0)}), (*e)["src_size_wh"].get<std::vector<std::int64_t>>());
    EXPECT_EQ(sha256_of(src), (*e)["src_u8_sha256"]);

    const at::Tensor file = d::read_piebench_image(targets / item.image_path);
    const std::int64_t H = file.size(0), W = file.size(1);
    EXPECT_EQ((std::vector<std::int64_t>{W, H}), (*e)["tgt_file_size_wh"].get<std::vector<std::int64_t>>());
    if ((*e)["tgt_crop_box_ltrb"].is_null()) {
      EXPECT_EQ(H, W);
    } else {
      EXPECT_EQ((std::vector<std::int64_t>{W - 512, H - 512, W, H}), (*e)["tgt_crop_box_ltrb"].get<std::vector<std::int64_t>>());
    }
    const at::Tensor tgt = d::load_target(targets, item);
    EXPECT_EQ(tgt.sizes(), src.sizes());
    EXPECT_EQ(sha256_of(tgt), (*e)["tgt_u8_sha256_after_crop"]);
  }
}

TEST(PieBenchImages, JpegDecodeEqualsPillowsLosslessCopies) {
  // expected/decoded/<key>.{src,tgt}.png: Pillow's decode of the .jpg files, stored losslessly.
  const auto root = fixture(kSet + "data");
  const auto targets = fixture(kSet + "output/ddim+p2p/annotation_images");
  const auto decoded = fixture(kSet + "expected/decoded");
  int compared = 0;
  for (const auto& item : d::read_mapping_file(root / "mapping_file.json")) {
    for (const auto& [suffix, image] :
         {std::pair{".src.png", d::load_source(root, item)}, std::pair{".tgt.png", d::load_target(targets, item)}}) {
      const auto copy = decoded / (item.key + suffix);
      if (!std::filesystem::exists(copy)) continue;
      const at::Tensor pillow = d::read_piebench_image(copy);
      const at::Tensor diff = (image.to(at::kInt) - pillow.to(at::kInt)).abs();
      EXPECT_EQ(diff.max().item<int>(), 0) << copy << ": " << diff.gt(0).sum().item<std::int64_t>() << " of " << diff.numel()
                                           << " values differ";
      ++compared;
    }
  }
  EXPECT_GE(compared, 2);
}

TEST(PieBenchImages, NonSquareTargetsCropLikePillow) {
  // A wide [reconstruction | edit] panel keeps its right half; a small non-square image lands in
  // the bottom-right corner of a black 512 x 512 (Pillow pads a crop box outside the image with 0).
  const at::Tensor wide = at::arange(300 * 1024 * 3, at::kInt).remainder(251).to(at::kByte).reshape({300, 1024, 3});
  const at::Tensor a = d::crop_target(wide);
  ASSERT_EQ(a.sizes(), (at::IntArrayRef{512, 512, 3}));
  EXPECT_EQ(a.slice(0, 0, 212).sum().item<std::int64_t>(), 0);
  EXPECT_TRUE(at::equal(a.slice(0, 212), wide.slice(1, 512)));
  const at::Tensor small = at::ones({60, 100, 3}, at::kByte);
  const at::Tensor b = d::crop_target(small);
  EXPECT_EQ(b.sum().item<std::int64_t>(), 60 * 100 * 3);
  EXPECT_TRUE(at::equal(b.slice(0, 452).slice(1, 412), small));
  const at::Tensor square = at::ones({64, 64, 3}, at::kByte);
  EXPECT_TRUE(at::equal(d::crop_target(square), square)) << "square targets are not cropped";
}

TEST(PieBenchDataset, ItemsCarryCleanedPromptsCategoryImageAndMask) {
  const Json parse = load("expected/parse.json");
  const auto masks = diffedit::safetensors::File::open(fixture(kSet + "expected/masks.safetensors"));
  d::DatasetOptions o;
  o.name = "piebench";
  o.root = fixture(kSet + "data");
  const auto ds = d::make_dataset(o);
  ASSERT_EQ(ds->size(), static_cast<std::int64_t>(parse["items"].size()));
  for (std::int64_t i = 0; i < ds->size(); ++i) {
    const Json& e = parse["items"][static_cast<std::size_t>(i)];
    const d::EditSample s = ds->get(i);
    SCOPED_TRACE(s.id);
    EXPECT_EQ(s.id, e["key"]);
    EXPECT_EQ(s.query, e["editing_prompt"]);
    EXPECT_EQ(s.reference, e["original_prompt"]);
    EXPECT_EQ(s.source, e["original_prompt"]);
    EXPECT_EQ(s.category, e["editing_type_name"]);
    EXPECT_FALSE(s.target_image.defined());
    ASSERT_EQ(s.image.sizes(), (at::IntArrayRef{3, e["src_size_wh"][1], e["src_size_wh"][0]}));
    EXPECT_EQ(sha256_of(s.image.mul(255).round().to(at::kByte).permute({1, 2, 0})), e["src_u8_sha256"]);
    EXPECT_TRUE(at::equal(s.region[0].to(at::kByte), masks.tensor("mask." + s.id)));
    // P2P's LocalBlend words as run_editing_p2p.py builds them, ((w[0],), (w[1],)), or none.
    const Json& blend = e["p2p_blend_word"];
    EXPECT_EQ(s.blend_source_words, blend.is_null() ? std::vector<std::string>{} : blend[0].get<std::vector<std::string>>());
    EXPECT_EQ(s.blend_target_words, blend.is_null() ? std::vector<std::string>{} : blend[1].get<std::vector<std::string>>());
  }
  o.limit = 2;
  o.reference = "none";
  const auto few = d::make_dataset(o);
  EXPECT_EQ(few->size(), 2);
  EXPECT_EQ(few->get(1).reference, "");
  EXPECT_EQ(few->get(1).source, parse["items"][1]["original_prompt"]) << "the source text stays the original prompt";
}

TEST(PieBenchDataset, SkipsItemsOutsideTheCategoryListAndTakesAnAnnotationsOverride) {
  ScratchDir dir;
  Json mapping = load("data/mapping_file.json");
  std::vector<std::string> kept;
  int n = 0;
  for (auto& [key, item] : mapping.items()) {
    // The reference compares ids as strings: an int, "10" and "x" are skipped, bad masks and all.
    if (n == 1) item["editing_type_id"] = 1;
    if (n == 2) item["editing_type_id"] = "10";
    if (n == 3) item["editing_type_id"] = "x", item["mask"] = {1, 2, 3};
    if (n == 0 || n > 3) kept.push_back(key);
    ++n;
  }
  write_bytes(dir / "other.json", mapping.dump());
  d::DatasetOptions o;
  o.name = "piebench";
  o.root = fixture(kSet + "data");
  o.annotations = dir / "other.json";
  const auto ds = d::make_dataset(o);
  ASSERT_EQ(ds->size(), static_cast<std::int64_t>(kept.size()));
  for (std::int64_t i = 0; i < ds->size(); ++i) EXPECT_EQ(ds->get(i).id, kept[static_cast<std::size_t>(i)]);
  // evaluate.py's --edit_category_list narrows it further.
  const auto first_type = load("data/mapping_file.json").begin().value()["editing_type_id"].get<std::string>();
  EXPECT_EQ(d::read_mapping_file(dir / "other.json", {first_type}).front().key, kept.front());
}

TEST(PieBenchBadInput, MissingFilesAndFieldsAreNamed) {
  ScratchDir dir;
  d::DatasetOptions o;
  o.name = "piebench";
  o.root = dir.path();
  EXPECT_THROW(d::make_dataset(o), diffedit::FileError) << "no mapping_file.json";

  // A missing image fails when the item is read, naming the file.
  const auto mapping = one_item_mapping(dir, [](Json& item) { item["image_path"] = "nowhere/missing.png"; });
  const auto ds = d::make_dataset(o);
  EXPECT_NE(error_what([&] { ds->get(0); }).find((dir / "annotation_images/nowhere/missing.png").string()), std::string::npos);
  EXPECT_THROW(ds->get(0), diffedit::FileError);

  one_item_mapping(dir, [](Json& item) { item.erase("image_path"); });
  EXPECT_NE(error_what([&] { d::make_dataset(o); }).find("missing field 'image_path'"), std::string::npos);
  one_item_mapping(dir, [](Json& item) { item["original_prompt"] = 7; });
  EXPECT_NE(error_what([&] { d::make_dataset(o); }).find("field 'original_prompt' must be a string"), std::string::npos);
  one_item_mapping(dir, [](Json& item) { item["editing_type_id"] = "11"; });
  EXPECT_NE(error_what([&] { d::make_dataset(o); }).find("no items"), std::string::npos);
  write_bytes(mapping, "{\"a\": ");
  EXPECT_THROW(d::make_dataset(o), diffedit::FormatError);
  write_bytes(mapping, "[1, 2]");
  EXPECT_THROW(d::make_dataset(o), diffedit::FormatError);
}

TEST(PieBenchBadInput, NonRgbImagesAreRefusedNamingTheFile) {
  // The reference opens images without convert("RGB"): such files would break its mask product.
  ScratchDir dir;
  const auto gray = dir / "gray.png", rgba = dir / "rgba.png", deep = dir / "deep.png", gray_jpeg = dir / "gray.jpg";
  diffedit::image::write(gray, at::rand({1, 8, 8}));
  diffedit::image::write(rgba, at::rand({4, 8, 8}));
  diffedit::image::write(deep, at::rand({3, 8, 8}), {.bit_depth = 16});
  diffedit::image::write(gray_jpeg, at::rand({1, 8, 8}));
  for (const auto& [path, kind] : std::vector<std::pair<std::filesystem::path, std::string>>{
           {gray, "grayscale"}, {rgba, "RGBA"}, {deep, "16-bit"}, {gray_jpeg, "grayscale"}}) {
    const std::string message = error_what([&] { d::read_piebench_image(path); });
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find(kind), std::string::npos) << message;
    EXPECT_THROW(d::read_piebench_image(path), diffedit::FormatError);
  }
  const auto rgb = dir / "rgb.png";
  diffedit::image::write(rgb, at::rand({3, 8, 6}));
  EXPECT_EQ(d::read_piebench_image(rgb).sizes(), (at::IntArrayRef{8, 6, 3}));
}

TEST(PieBenchExport, ToyDatasetsRoundTripThroughPieBenchsLayout) {
  for (const std::string name : {"toy-coco", "toy-imagenet"}) {
    SCOPED_TRACE(name);
    ScratchDir dir;
    d::DatasetOptions toy;
    toy.name = name;
    toy.limit = 3;
    const auto original = d::make_dataset(toy);
    d::write_piebench(*original, dir.path());

    const auto items = d::read_mapping_file(dir / "mapping_file.json");
    ASSERT_EQ(items.size(), 3u);
    d::DatasetOptions o;
    o.name = "piebench";
    o.root = dir.path();
    const auto back = d::make_dataset(o);
    ASSERT_EQ(back->size(), 3);
    for (std::int64_t i = 0; i < 3; ++i) {
      const d::EditSample a = original->get(i), b = back->get(i);
      const auto& item = items[static_cast<std::size_t>(i)];
      EXPECT_EQ(item.key.size(), 12u);
      // The toy edit's type (a colour edit or an object edit) is kept.
      ASSERT_FALSE(a.category.empty());
      EXPECT_EQ(d::editing_type_name(item.editing_type_id), a.category);
      EXPECT_EQ(b.id, item.key);
      EXPECT_EQ(b.category, a.category);
      EXPECT_EQ(b.query, a.query);
      EXPECT_EQ(b.reference, a.source) << "original_prompt is the input's own description";
      ASSERT_EQ(b.image.sizes(), a.image.sizes());
      EXPECT_LE((b.image - a.image).abs().max().item<double>(), 0.5 / 255 + 1e-6) << "8-bit PNG";
      // The region round-trips inside the frame; the frame itself is forced to 1 on reading.
      const auto interior = [](const at::Tensor& r) { return r[0].slice(0, 1, -1).slice(1, 1, -1); };
      EXPECT_TRUE(at::equal(interior(b.region), interior(a.region)));
      EXPECT_EQ(b.region.sum().item<double>() - interior(b.region).sum().item<double>(),
                static_cast<double>(2 * (a.region.size(1) + a.region.size(2)) - 4));
      EXPECT_TRUE(at::equal(d::mask_decode_raw(item.mask, a.region.size(1), a.region.size(2)), a.region[0].gt(0.5).to(at::kByte)))
          << "the stored runs are the whole region, frame included";
    }
  }
}

TEST(PieBenchExport, RefusesItemsWithoutARegionAndBracketedPrompts) {
  struct One : d::EditDataset {
    d::EditSample sample;
    std::string name() const override { return "one"; }
    std::int64_t size() const override { return 1; }
    d::EditSample get(std::int64_t) const override { return sample; }
  } one;
  one.sample.id = "x";
  one.sample.image = at::zeros({3, 4, 4});
  one.sample.query = "a cat";
  ScratchDir dir;
  EXPECT_NE(error_what([&] { d::write_piebench(one, dir.path()); }).find("one: item 0 (x): has no ground-truth region"), std::string::npos);
  one.sample.region = at::zeros({1, 4, 4});
  one.sample.query = "a [cat]";
  EXPECT_NE(error_what([&] { d::write_piebench(one, dir.path()); }).find("contains '[' or ']'"), std::string::npos);
  EXPECT_THROW(d::write_piebench(one, dir.path(), {.default_type_id = "12"}), diffedit::InputError);
}
