#include "data/datasets.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/config.h"
#include "core/errors.h"
#include "core/fs.h"
#include "data/piebench.h"
#include "image/io.h"
#include "image/resize.h"

namespace diffedit::data {

namespace {

// Real image -> [3, n, n] in [0, 1]: Resize(n) + CenterCrop(n) with Pillow bilinear on uint8.
at::Tensor load_image(const std::filesystem::path& path, std::int64_t n) {
  return image::resize_center_crop_u8(image::to_u8_hwc(image::read(path)), n, image::Filter::bilinear).permute({2, 0, 1}).to(at::kFloat) /
         255.0f;
}

// One CSV line -> fields (double quotes with "" escapes, as pandas writes them).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        out.back() += '"', ++i;
      else if (c == '"')
        quoted = false;
      else
        out.back() += c;
    } else if (c == '"')
      quoted = true;
    else if (c == ',')
      out.emplace_back();
    else if (c != '\r')
      out.back() += c;
  }
  return out;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (const char c : s + " ") {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '\'')
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!w.empty())
      out.push_back(w), w.clear();
  }
  return out;
}

struct Row {
  EditSample sample;  // image left undefined until get()
  std::filesystem::path image;
};

// A dataset of rows whose images are read on demand.
class FileDataset : public EditDataset {
 public:
  FileDataset(std::string name, std::vector<Row> rows, std::int64_t size) : name_(std::move(name)), rows_(std::move(rows)), size_(size) {}
  std::string name() const override { return name_; }
  std::int64_t size() const override { return static_cast<std::int64_t>(rows_.size()); }
  EditSample get(std::int64_t index) const override {
    if (index < 0 || index >= size()) throw InputError(name_, "index " + std::to_string(index) + " out of range");
    EditSample s = rows_[static_cast<std::size_t>(index)].sample;
    s.image = load_image(rows_[static_cast<std::size_t>(index)].image, size_);
    return s;
  }

 private:
  std::string name_;
  std::vector<Row> rows_;
  std::int64_t size_;
};

std::vector<Row> limited(std::vector<Row> rows, std::int64_t limit) {
  if (limit > 0 && static_cast<std::int64_t>(rows.size()) > limit) rows.resize(static_cast<std::size_t>(limit));
  return rows;
}

std::unique_ptr<EditDataset> imagenet_flexit(const DatasetOptions& o) {
  fs::require_regular_file(o.annotations);
  std::istringstream in(fs::read_file(o.annotations));
  std::string line;
  std::getline(in, line);
  const auto header = csv_fields(line);
  const std::vector<std::string> expected = {"", "path", "source", "source_id", "target", "target_id", "is_test"};
  if (header != expected) throw FormatError(o.annotations.string(), "header is not ',path,source,source_id,target,target_id,is_test'");
  if (o.split != "test" && o.split != "dev") throw InputError("dataset.split", "imagenet-flexit has splits test and dev");
  if (o.reference != "default" && o.reference != "none" && o.reference != "source")
    throw InputError("dataset.reference", "imagenet-flexit: none or source");
  std::vector<Row> rows;
  for (std::int64_t number = 2; std::getline(in, line); ++number) {
    if (line.empty() || line == "\r") continue;
    const auto f = csv_fields(line);
    const std::string where = o.annotations.string() + ": line " + std::to_string(number);
    if (f.size() != 7) throw FormatError(where, "expected 7 fields, found " + std::to_string(f.size()));
    if (f[6] != "True" && f[6] != "False") throw FormatError(where, "is_test must be True or False");
    if ((f[6] == "True") != (o.split == "test")) continue;
    Row r;
    try {
      r.sample.source_label = std::stoll(f[3]);
      r.sample.target_label = std::stoll(f[5]);
    } catch (const std::exception&) {
      throw FormatError(where, "source_id and target_id must be integers");
    }
    r.sample.id = f[0];
    r.sample.query = f[4];
    r.sample.reference = o.reference == "source" ? f[2] : "";
    r.sample.source = f[2];
    r.image = o.root / f[1];
    rows.push_back(std::move(r));
  }
  if (rows.empty()) throw FormatError(o.annotations.string(), "no rows in split " + o.split);
  return std::make_unique<FileDataset>("imagenet-flexit", limited(std::move(rows), o.limit), o.image_size);
}

// A COCO captions file (captions_val2014.json): file name and first caption per image id.
struct CocoCaptions {
  std::map<std::int64_t, std::string> files, first_caption;  // ordered by image id
};

CocoCaptions read_coco_captions(const std::filesystem::path& path) {
  const config::Json captions = config::load_json(path);
  if (!captions.contains("images") || !captions.contains("annotations"))
    throw FormatError(path.string(), "not a COCO captions file (needs images and annotations)");
  CocoCaptions c;
  try {
    for (const auto& im : captions["images"]) c.files[im.at("id").get<std::int64_t>()] = im.at("file_name");
    for (const auto& a : captions["annotations"]) c.first_caption.try_emplace(a.at("image_id").get<std::int64_t>(), a.at("caption"));
  } catch (const config::Json::exception& e) {
    throw FormatError(path.string(), std::string("malformed COCO captions entry: ") + e.what());
  }
  return c;
}

// A BISON annotations file: its `data` array of queries.
config::Json read_bison(const std::filesystem::path& path) {
  config::Json bison = config::load_json(path);
  if (!bison.contains("data") || !bison["data"].is_array()) throw FormatError(path.string(), "not a BISON file (needs data: [...])");
  return std::move(bison["data"]);
}

std::unique_ptr<EditDataset> coco_bison(const DatasetOptions& o) {
  CocoCaptions captions = read_coco_captions(o.captions);
  const config::Json data = read_bison(o.annotations);
  if (o.reference != "default" && o.reference != "none" && o.reference != "caption")
    throw InputError("dataset.reference", "coco-bison: caption or none");
  auto& files = captions.files;
  auto& first_caption = captions.first_caption;
  std::vector<Row> rows;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto& q = data[i];
    const std::string where = o.annotations.string() + ": data[" + std::to_string(i) + "]";
    try {
      const auto truth = q.at("true_image_id").get<std::int64_t>();
      for (const auto& c : q.at("image_candidates")) {
        const auto id = c.at("image_id").get<std::int64_t>();
        if (id == truth) continue;  // the input is the image the caption contradicts
        if (!files.count(id) || !first_caption.count(id))
          throw FormatError(where, "image " + std::to_string(id) + " is not in the captions file");
        Row r;
        r.sample.id = std::to_string(q.at("bison_query_id").get<std::int64_t>());
        r.sample.query = q.at("caption");
        r.sample.reference = o.reference == "none" ? "" : first_caption[id];
        r.sample.source = first_caption[id];
        if (changed_word_share(r.sample.query, first_caption[id]) >= o.max_changed_words && o.max_changed_words < 1.0) break;
        r.image = o.root / files[id];
        rows.push_back(std::move(r));
        break;
      }
    } catch (const config::Json::exception& e) {
      throw FormatError(where, std::string("malformed BISON entry: ") + e.what());
    }
  }
  if (rows.empty()) throw FormatError(o.annotations.string(), "no queries (after the max_changed_words filter)");
  return std::make_unique<FileDataset>("coco-bison", limited(std::move(rows), o.limit), o.image_size);
}

// coco-images: real COCO images for FID references, disjoint from the edited inputs.
std::unique_ptr<EditDataset> coco_images(const DatasetOptions& o) {
  const CocoCaptions captions = read_coco_captions(o.captions);
  std::set<std::int64_t> excluded;  // every BISON candidate image: the inputs of any BISON edit set
  if (!o.annotations.empty()) {
    const config::Json data = read_bison(o.annotations);
    for (std::size_t i = 0; i < data.size(); ++i) {
      try {
        for (const auto& c : data[i].at("image_candidates")) excluded.insert(c.at("image_id").get<std::int64_t>());
      } catch (const config::Json::exception& e) {
        throw FormatError(o.annotations.string() + ": data[" + std::to_string(i) + "]", std::string("malformed BISON entry: ") + e.what());
      }
    }
  }
  std::vector<Row> rows;
  for (const auto& [id, file] : captions.files) {
    if (excluded.count(id)) continue;
    const auto caption = captions.first_caption.find(id);
    Row r;
    r.sample.id = std::to_string(id);
    r.sample.source = caption == captions.first_caption.end() ? "" : caption->second;
    r.image = o.root / file;
    rows.push_back(std::move(r));
  }
  if (rows.empty()) throw FormatError(o.captions.string(), "no images left after excluding the BISON images");
  return std::make_unique<FileDataset>("coco-images", limited(std::move(rows), o.limit), o.image_size);
}

std::unique_ptr<EditDataset> imagen_pairs(const DatasetOptions& o) {
  fs::require_regular_file(o.annotations);
  if (o.reference != "default" && o.reference != "none" && o.reference != "caption")
    throw InputError("dataset.reference", "imagen-pairs: caption or none");
  std::istringstream in(fs::read_file(o.annotations));
  std::string line;
  std::vector<Row> rows;
  for (std::int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::vector<std::string> f;
    for (std::size_t start = 0;;) {
      const std::size_t at = line.find("<>", start);
      std::string field = line.substr(start, at == std::string::npos ? std::string::npos : at - start);
      const auto a = field.find_first_not_of(" \t\r"), b = field.find_last_not_of(" \t\r");
      f.push_back(a == std::string::npos ? "" : field.substr(a, b - a + 1));
      if (at == std::string::npos) break;
      start = at + 2;
    }
    const std::string where = o.annotations.string() + ": line " + std::to_string(number);
    if (f.size() != 4) throw FormatError(where, "expected 'id <> caption <> changed phrase <> new phrase'");
    const auto pos = f[1].find(f[2]);
    if (f[2].empty() || pos == std::string::npos) throw FormatError(where, "the changed phrase '" + f[2] + "' is not in the caption");
    Row r;
    r.sample.id = f[0];
    r.sample.query = f[1].substr(0, pos) + f[3] + f[1].substr(pos + f[2].size());
    r.sample.reference = o.reference == "none" ? "" : f[1];
    r.sample.source = f[1];
    r.image = o.root / (f[0] + ".png");
    rows.push_back(std::move(r));
  }
  if (rows.empty()) throw FormatError(o.annotations.string(), "no pairs");
  return std::make_unique<FileDataset>("imagen-pairs", limited(std::move(rows), o.limit), o.image_size);
}

std::unique_ptr<EditDataset> piebench(const DatasetOptions& o) {
  if (o.reference != "default" && o.reference != "none" && o.reference != "caption")
    throw InputError("dataset.reference", "piebench: caption or none");
  const auto mapping = o.annotations.empty() ? o.root / "mapping_file.json" : o.annotations;
  return make_piebench_dataset(o.root, mapping, o.limit, o.reference == "none");
}

}  // namespace

const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n = toy_dataset_names();
    for (const char* r : {"imagenet-flexit", "coco-bison", "imagen-pairs", "piebench", "coco-images"}) n.push_back(r);
    return n;
  }();
  return names;
}

std::unique_ptr<EditDataset> make_dataset(const DatasetOptions& o, ImageGenerator generator) {
  if (o.name == "imagenet-flexit") return imagenet_flexit(o);
  if (o.name == "coco-bison") return coco_bison(o);
  if (o.name == "imagen-pairs") return imagen_pairs(o);
  if (o.name == "piebench") return piebench(o);
  if (o.name == "coco-images") return coco_images(o);
  return make_toy_dataset(o.name, o.split, o.limit, o.world_seed, std::move(generator), o.world, o.reference);
}

double changed_word_share(const std::string& a, const std::string& b) {
  const auto x = words(a), y = words(b);
  std::vector<std::size_t> prev(y.size() + 1), cur(y.size() + 1);
  for (std::size_t j = 0; j <= y.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= x.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= y.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  const std::size_t n = std::max(x.size(), y.size());
  return n ? static_cast<double>(prev[y.size()]) / static_cast<double>(n) : 0.0;
}

}  // namespace diffedit::data
