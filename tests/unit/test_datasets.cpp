// The real-data edit datasets on tiny fakes written in the published formats: FlexIT's
// queries.csv, COCO captions + BISON, the Imagen pair list.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/errors.h"
#include "data/datasets.h"
#include "editing/flexit.h"
#include "eval/edit_request.h"
#include "image/io.h"
#include "test_support.h"

namespace d = diffedit::data;
using diffedit::testing::error_what;
using diffedit::testing::ScratchDir;
using diffedit::testing::write_bytes;

namespace {

void image(const std::filesystem::path& p, int w, int h) {
  std::filesystem::create_directories(p.parent_path());
  diffedit::image::write(p, at::rand({3, h, w}));
}

}  // namespace

TEST(Datasets, ImageNetFlexitReadsQueriesCsv) {
  ScratchDir dir;
  write_bytes(dir / "queries.csv",
              ",path,source,source_id,target,target_id,is_test\n"
              "6,n02091032/ILSVRC2012_val_00042240.JPEG,Italian greyhound,171,whippet,172,True\n"
              "9,n01440764/ILSVRC2012_val_00000293.JPEG,tench,0,\"goldfish, Carassius auratus\",1,False\n"
              "13,n01440764/ILSVRC2012_val_00002138.JPEG,tench,0,great white shark,2,True\n");
  for (const char* f :
       {"n02091032/ILSVRC2012_val_00042240.JPEG", "n01440764/ILSVRC2012_val_00000293.JPEG", "n01440764/ILSVRC2012_val_00002138.JPEG"})
    image(dir / "val" / f, 48, 36);
  d::DatasetOptions o;
  o.name = "imagenet-flexit";
  o.annotations = dir / "queries.csv";
  o.root = dir / "val";
  o.image_size = 32;
  auto test = d::make_dataset(o);
  ASSERT_EQ(test->size(), 2);
  const auto s = test->get(1);
  EXPECT_EQ(s.id, "13");
  EXPECT_EQ(s.query, "great white shark");
  EXPECT_EQ(s.reference, "");  // the paper's ImageNet protocol: no reference text
  EXPECT_EQ(s.source, "tench") << "FlexIT's source text is the class name whatever the reference is";
  {
    // ... and reaches FlexIT: its default source text is the dataset's, not DiffEdit's empty R.
    const auto request = diffedit::eval::request_for(s, 0);
    diffedit::editing::FlexITOptions flexit;
    EXPECT_EQ(diffedit::editing::flexit_source(request, flexit), "tench");
    flexit.source_text = "reference";
    EXPECT_EQ(diffedit::editing::flexit_source(request, flexit), "");
  }
  EXPECT_EQ(s.source_label, 0);
  EXPECT_EQ(s.target_label, 2);
  EXPECT_EQ(s.image.sizes(), (std::vector<std::int64_t>{3, 32, 32}));
  EXPECT_FALSE(s.region.defined());
  o.split = "dev";
  o.reference = "source";
  auto dev = d::make_dataset(o);
  ASSERT_EQ(dev->size(), 1);
  EXPECT_EQ(dev->get(0).query, "goldfish, Carassius auratus");
  EXPECT_EQ(dev->get(0).reference, "tench");

  write_bytes(dir / "bad.csv", ",path,source,source_id,target,target_id,is_test\n6,a.JPEG,x,1,y,2,Maybe\n");
  o.annotations = dir / "bad.csv";
  EXPECT_NE(error_what([&] { d::make_dataset(o); }).find("bad.csv: line 2: is_test must be True or False"), std::string::npos);
  write_bytes(dir / "header.csv", "id,path\n");
  o.annotations = dir / "header.csv";
  EXPECT_NE(error_what([&] { d::make_dataset(o); }).find("header.csv: header is not"), std::string::npos);
  o.annotations = dir / "missing.csv";
  EXPECT_THROW(d::make_dataset(o), diffedit::FileError);
}

TEST(Datasets, CocoBisonEditsTheImageTheCaptionContradicts) {
  ScratchDir dir;
  write_bytes(dir / "captions.json", R"({"images": [{"id": 1, "file_name": "COCO_val2014_000000000001.jpg"},
                                                    {"id": 2, "file_name": "COCO_val2014_000000000002.jpg"}],
                                         "annotations": [{"image_id": 1, "id": 10, "caption": "A dog runs on the grass."},
                                                         {"image_id": 2, "id": 20, "caption": "A cat sleeps on a red sofa."},
                                                         {"image_id": 2, "id": 21, "caption": "A cat on a couch."}]})");
  write_bytes(dir / "bison.json", R"({"data": [
      {"bison_query_id": 7, "caption": "A cat sleeps on a blue sofa.", "true_image_id": 1,
       "image_candidates": [{"image_id": 1}, {"image_id": 2}]},
      {"bison_query_id": 8, "caption": "A dog runs on the grass.", "true_image_id": 1,
       "image_candidates": [{"image_id": 2}, {"image_id": 1}]}]})");
  image(dir / "val2014" / "COCO_val2014_000000000002.jpg", 40, 30);
  d::DatasetOptions o;
  o.name = "coco-bison";
  o.captions = dir / "captions.json";
  o.annotations = dir / "bison.json";
  o.root = dir / "val2014";
  o.image_size = 24;
  auto all = d::make_dataset(o);
  ASSERT_EQ(all->size(), 2);
  const auto s = all->get(0);
  EXPECT_EQ(s.id, "7");
  EXPECT_EQ(s.query, "A cat sleeps on a blue sofa.");
  EXPECT_EQ(s.reference, "A cat sleeps on a red sofa.");  // the input's (image 2's) first caption
  EXPECT_EQ(s.source, s.reference);
  EXPECT_EQ(s.image.sizes(), (std::vector<std::int64_t>{3, 24, 24}));
  // One word of seven changed (1/7 < 0.25) is kept; the second query changes nearly everything.
  o.max_changed_words = 0.25;
  auto few = d::make_dataset(o);
  ASSERT_EQ(few->size(), 1);
  EXPECT_EQ(few->get(0).id, "7");
  EXPECT_NEAR(d::changed_word_share("A cat sleeps on a blue sofa.", "a cat sleeps on a red sofa"), 1.0 / 7.0, 1e-12);
  EXPECT_DOUBLE_EQ(d::changed_word_share("", ""), 0.0);
}

// FID references for the COCO and Imagen splits: real images, none of them a BISON candidate (so
// none is an edited input, whatever filter picks the queries), in image-id order.
TEST(Datasets, CocoImagesAreDisjointFromBisonInputs) {
  ScratchDir dir;
  write_bytes(dir / "captions.json", R"({"images": [{"id": 9, "file_name": "c9.jpg"}, {"id": 2, "file_name": "c2.jpg"},
                                                    {"id": 5, "file_name": "c5.jpg"}, {"id": 7, "file_name": "c7.jpg"}],
                                         "annotations": [{"image_id": 5, "id": 50, "caption": "A red bus."},
                                                         {"image_id": 5, "id": 51, "caption": "A bus."},
                                                         {"image_id": 7, "id": 70, "caption": "Two dogs."}]})");
  write_bytes(dir / "bison.json", R"({"data": [{"bison_query_id": 1, "caption": "x", "true_image_id": 2,
                                                "image_candidates": [{"image_id": 2}, {"image_id": 7}]}]})");
  for (const char* f : {"c2.jpg", "c5.jpg", "c7.jpg", "c9.jpg"}) image(dir / "val2014" / f, 40, 30);
  d::DatasetOptions o;
  o.name = "coco-images";
  o.captions = dir / "captions.json";
  o.annotations = dir / "bison.json";
  o.root = dir / "val2014";
  o.image_size = 16;
  const auto refs = d::make_dataset(o);
  ASSERT_EQ(refs->size(), 2);  // 5 and 9: 2 and 7 are BISON's
  const auto first = refs->get(0);
  EXPECT_EQ(first.id, "5");
  EXPECT_EQ(first.source, "A red bus.");
  EXPECT_EQ(first.image.sizes(), (std::vector<std::int64_t>{3, 16, 16}));
  EXPECT_EQ(refs->get(1).id, "9");
  o.limit = 1;
  EXPECT_EQ(d::make_dataset(o)->size(), 1);
  o.limit = 0;
  o.annotations.clear();
  EXPECT_EQ(d::make_dataset(o)->size(), 4) << "without a BISON file nothing is excluded";
  write_bytes(dir / "bad.json", R"({"data": [{"bison_query_id": 1}]})");
  o.annotations = dir / "bad.json";
  EXPECT_THROW(d::make_dataset(o), diffedit::FormatError);
}

TEST(Datasets, ImagenPairsReplaceThePhrase) {
  ScratchDir dir;
  write_bytes(dir / "Imagen_list.txt",
              "1 <> A photo of a fuzzy panda wearing a cowboy hat and red shirt playing a guitar in a garden <> fuzzy panda <> raccoon\n"
              "2 <> An oil painting of a Shiba Inu dog riding a bike on a beach <> on a beach <> on top of a mountain\n");
  image(dir / "imagen" / "1.png", 64, 64);
  d::DatasetOptions o;
  o.name = "imagen-pairs";
  o.annotations = dir / "Imagen_list.txt";
  o.root = dir / "imagen";
  o.image_size = 32;
  auto ds = d::make_dataset(o);
  ASSERT_EQ(ds->size(), 2);
  const auto s = ds->get(0);
  EXPECT_EQ(s.query, "A photo of a raccoon wearing a cowboy hat and red shirt playing a guitar in a garden");
  EXPECT_EQ(s.reference, "A photo of a fuzzy panda wearing a cowboy hat and red shirt playing a guitar in a garden");
  EXPECT_EQ(s.image.sizes(), (std::vector<std::int64_t>{3, 32, 32}));
  EXPECT_THROW(ds->get(1), diffedit::FileError);  // 2.png was never written
  o.reference = "none";
  EXPECT_EQ(d::make_dataset(o)->get(0).reference, "");
  EXPECT_EQ(d::make_dataset(o)->get(0).source, s.reference) << "the source text stays the caption";
  write_bytes(dir / "bad.txt", "1 <> a cat <> dog <> bird\n");
  o.annotations = dir / "bad.txt";
  EXPECT_NE(error_what([&] { d::make_dataset(o); }).find("bad.txt: line 1: the changed phrase 'dog' is not in the caption"),
            std::string::npos);
}
