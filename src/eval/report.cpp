#include "eval/report.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "data/datasets.h"
#include "eval/claims.h"
#include "eval/experiment.h"
#include "eval/metric_registry.h"
#include "eval/record_store.h"
#include "image/io.h"

namespace diffedit::eval {

using config::Json;

namespace {

std::string number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

std::string tex_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '_' || c == '%' || c == '&' || c == '#') o += '\\';
    o += c;
  }
  return o;
}

struct Row {
  std::string label, setting;
  const Json* values;
};

// The metrics table: rows in config order (method, then grid order); columns: the registry's values
// in its order, then the others in name order.
struct Table {
  std::vector<Row> rows;
  std::vector<std::string> columns;
  static std::string cell(const Row& r, const std::string& m) {
    return r.values->contains(m) ? number((*r.values)[m].get<double>()) : std::string();
  }
};

// `metrics`: label -> setting -> values (a summary's "metrics", or one of its categories).
Table metric_table(const Experiment& e, const Json& metrics) {
  Table t;
  auto& rows = t.rows;
  auto& columns = t.columns;
  std::set<std::string> present;
  for (const auto& s : e.settings) {
    const Json* v = nullptr;
    if (metrics.contains(s.label) && metrics[s.label].contains(s.name)) v = &metrics[s.label][s.name];
    if (!v) continue;
    rows.push_back({s.label, s.name, v});
    for (const auto& [k, x] : v->items())
      if (x.is_number()) present.insert(k);
  }
  for (const auto& m : table_metric_order())
    if (present.erase(m)) columns.push_back(m);
  for (const auto& m : present)  // values no metric declares, in name order
    if (const auto v = metric_value(m); !v || v->aggregate != Aggregate::none) columns.push_back(m);
  return t;
}

// The table as Markdown (with the evaluation count), CSV and LaTeX.
struct TableTexts {
  std::string md, csv, tex;
};
TableTexts table_texts(const Experiment& e, const Json& summary, const Table& t) {
  const auto& rows = t.rows;
  const auto& columns = t.columns;
  const auto cell = Table::cell;
  std::ostringstream md, csv, tex;
  md << "# " << e.name << "\n\n| method | setting |";
  csv << "method,setting";
  tex << "\\begin{tabular}{ll" << std::string(columns.size(), 'r') << "}\n\\toprule\nmethod & setting";
  for (const auto& c : columns) {
    md << ' ' << c << " |";
    csv << ',' << c;
    tex << " & " << tex_escape(c);
  }
  md << "\n|---|---|" << [&] {
    std::string s;
    for (std::size_t i = 0; i < columns.size(); ++i) s += "---:|";
    return s;
  }() << '\n';
  csv << '\n';
  tex << " \\\\\n\\midrule\n";
  for (const auto& r : rows) {
    md << "| " << r.label << " | " << r.setting << " |";
    csv << '"' << r.label << "\",\"" << r.setting << '"';
    tex << tex_escape(r.label) << " & " << tex_escape(r.setting);
    for (const auto& c : columns) {
      md << ' ' << cell(r, c) << " |";
      csv << ',' << cell(r, c);
      tex << " & " << cell(r, c);
    }
    md << '\n';
    csv << '\n';
    tex << " \\\\\n";
  }
  tex << "\\bottomrule\n\\end{tabular}\n";
  md << "\nDenoiser evaluations: " << summary.value("denoiser_evaluations", 0)
     << " (if every setting ran alone: " << summary.value("denoiser_evaluations_if_independent", 0) << ").\n";
  return {md.str(), csv.str(), tex.str()};
}

// The per-category tables (summary "by_category": PIE-Bench's editing types) as one Markdown
// section per category and one CSV with a category column; empty when the records name none.
TableTexts category_texts(const Experiment& e, const Json& summary) {
  TableTexts out;
  if (!summary.contains("by_category")) return out;
  std::ostringstream md, csv;
  md << "# " << e.name << ": by category\n";
  bool header = false;
  for (const auto& [category, metrics] : summary["by_category"].items()) {
    const Table t = metric_table(e, metrics);
    md << "\n## " << category << "\n\n| method | setting |";
    for (const auto& c : t.columns) md << ' ' << c << " |";
    md << "\n|---|---|";
    for (std::size_t i = 0; i < t.columns.size(); ++i) md << "---:|";
    md << '\n';
    if (!header) {  // every category has the same columns: the metrics are the run's
      csv << "category,method,setting";
      for (const auto& c : t.columns) csv << ',' << c;
      csv << '\n';
      header = true;
    }
    for (const auto& r : t.rows) {
      md << "| " << r.label << " | " << r.setting << " |";
      csv << '"' << category << "\",\"" << r.label << "\",\"" << r.setting << '"';
      for (const auto& c : t.columns) {
        md << ' ' << Table::cell(r, c) << " |";
        csv << ',' << Table::cell(r, c);
      }
      md << '\n';
      csv << '\n';
    }
  }
  out.md = md.str();
  out.csv = csv.str();
  return out;
}

// The trade-off plots (matplotlib through Debian's python3), their PNG names sorted; sets
// `drawn` when the script ran.
std::vector<std::string> draw_plots(const std::filesystem::path& plot_script, const std::filesystem::path& summary_path,
                                    const std::filesystem::path& dir, bool& drawn) {
  std::vector<std::string> plots;
  if (std::filesystem::exists(plot_script)) {
    const std::string cmd = "/usr/bin/python3 '" + plot_script.string() + "' '" + summary_path.string() + "' '" + dir.string() + "' > '" +
                            (dir / "plots.log").string() + "' 2>&1";
    if (std::system(cmd.c_str()) == 0)
      drawn = true;
    else
      log::warn("trade-off plots not drawn (needs /usr/bin/python3 with python3-matplotlib; see ", (dir / "plots.log").string(), ")");
  } else {
    log::warn("trade-off plots not drawn: ", plot_script.string(), " not found");
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".png" && entry.path().filename().string().rfind("tradeoff_", 0) == 0)
      plots.push_back(entry.path().filename());
  std::sort(plots.begin(), plots.end());

  return plots;
}

// Image grids as HTML: per item, per method and non-r grid values, the edits across r (inputs and
// ground truth written to dir/inputs/).
std::string image_grids(const std::filesystem::path& run_dir, const Experiment& e, const std::filesystem::path& dir,
                        std::int64_t max_items) {
  RecordStore store(run_dir);
  store.load();
  std::map<std::string, const Json*> by_item_setting;  // "item|label|setting" -> record (first seed)
  for (const auto& [key, r] : store.records())
    if (r.value("status", "") == "ok") {
      const std::string k = r["item"].get<std::string>() + "|" + r["label"].get<std::string>() + "|" + r["setting"].get<std::string>();
      if (!by_item_setting.count(k) || r["seed"] < (*by_item_setting[k])["seed"]) by_item_setting[k] = &r;
    }
  std::filesystem::create_directories(dir / "inputs");
  // toy-generated items are images of the model (no ground truth): their inputs are not redrawn here.
  const bool has_inputs = e.dataset.name != "toy-generated";
  std::unique_ptr<data::EditDataset> dataset;
  if (has_inputs) {
    DatasetSpec shown = e.dataset;
    shown.limit = std::min(e.dataset.limit, max_items);
    dataset = data::make_dataset(shown);
  }
  std::ostringstream grids;
  for (std::int64_t i = 0; i < std::min(e.dataset.limit, max_items); ++i) {
    const std::string item = item_key(e.dataset, i);
    bool any = false;
    for (const auto& s : e.settings) any = any || by_item_setting.count(item + "|" + s.label + "|" + s.name);
    if (!any) continue;
    grids << "<h3>" << html_escape(item) << "</h3>\n<table class=\"grid\">\n";
    if (has_inputs) {
      const auto sample = dataset->get(i);
      const std::string stem = "inputs/" + std::to_string(i);
      image::write(dir / (stem + ".png"), sample.image);
      grids << "<tr><td>input<br><img src=\"" << stem << ".png\"></td>";
      if (sample.target_image.defined()) {
        image::write(dir / (stem + ".target.png"), sample.target_image);
        image::write(dir / (stem + ".region.png"), sample.region);
        grids << "<td>ground truth<br><img src=\"" << stem << ".target.png\"></td><td>region<br><img src=\"" << stem
              << ".region.png\"></td>";
      }
      grids << "<td class=\"text\">" << html_escape(sample.source.empty() ? sample.reference : sample.source) << " &rarr; <b>"
            << html_escape(sample.query) << "</b></td></tr>\n";
    }
    std::map<std::string, std::vector<std::pair<double, const PlannedSetting*>>> families;  // label + non-r values -> settings by r
    for (const auto& s : e.settings) {
      Json rest = s.grid_values;
      rest.erase("strength");
      std::string family = s.label;
      for (const auto& [k, v] : rest.items()) family += " " + k + "=" + v.dump();
      families[family].push_back({s.grid_values.value("strength", s.parameters.value("strength", 0.0)), &s});
    }
    for (auto& [family, members] : families) {
      std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      grids << "<tr><td class=\"text\">" << html_escape(family) << "</td>";
      const Json* mask_record = nullptr;
      for (const auto& [r, s] : members)
        if (const auto it = by_item_setting.find(item + "|" + s->label + "|" + s->name);
            it != by_item_setting.end() && it->second->contains("mask"))
          mask_record = it->second;
      if (mask_record) grids << "<td>mask<br><img src=\"../" << (*mask_record)["mask"].get<std::string>() << "\"></td>";
      for (const auto& [r, s] : members) {
        const auto it = by_item_setting.find(item + "|" + s->label + "|" + s->name);
        if (it == by_item_setting.end())
          grids << "<td>r=" << number(r) << "<br>(missing)</td>";
        else
          grids << "<td>r=" << number(r) << "<br><img src=\"../" << (*it->second)["image"].get<std::string>() << "\"></td>";
      }
      grids << "</tr>\n";
    }
    grids << "</table>\n";
  }

  return grids.str();
}

// The report page: tables, claims, plots and grids, with a check that every image loads.
std::string html_page(const Experiment& e, const Json& summary, const Table& t, const std::vector<Claim>& claims, const TradeoffAxes& axes,
                      const std::vector<std::string>& plots, const std::string& grids) {
  const auto& rows = t.rows;
  const auto& columns = t.columns;
  const auto cell = Table::cell;
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << html_escape(e.name) << "</title>\n"
       << "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:2px 6px;font-size:12px}"
       << "table.metrics td,table.metrics th{border-bottom:1px solid #ddd;text-align:right}table.grid img{width:96px;height:96px;"
       << "image-rendering:pixelated}td.text{max-width:220px;text-align:left}</style></head><body>\n"
       << "<h1>" << html_escape(e.name) << "</h1>\n<p>" << html_escape(e.resolved.value("description", "")) << "</p>\n"
       << "<p>git revision " << html_escape(summary.value("git_revision", "unknown")) << "; records " << summary["records"].dump()
       << "; denoiser evaluations " << summary.value("denoiser_evaluations", 0) << " (independent "
       << summary.value("denoiser_evaluations_if_independent", 0) << ")</p>\n<div id=\"image-check\">checking images&hellip;</div>\n"
       << "<h2>Tables</h2>\n<p><a href=\"tables.md\">tables.md</a> &middot; <a href=\"tables.csv\">tables.csv</a> &middot; "
       << "<a href=\"tables.tex\">tables.tex</a></p>\n<table class=\"metrics\"><tr><th>method</th><th>setting</th>";
  for (const auto& c : columns) html << "<th>" << html_escape(c) << "</th>";
  html << "</tr>\n";
  for (const auto& r : rows) {
    html << "<tr><td>" << html_escape(r.label) << "</td><td>" << html_escape(r.setting) << "</td>";
    for (const auto& c : columns) html << "<td>" << cell(r, c) << "</td>";
    html << "</tr>\n";
  }
  html << "</table>\n";
  if (summary.contains("by_category"))
    html << "<p>By category (" << summary["by_category"].size()
         << "): <a href=\"categories.md\">categories.md</a> &middot; <a href=\"categories.csv\">categories.csv</a></p>\n";
  html << "<h2>Claims</h2>\n";
  if (claims.empty())
    html << "<p>No finding of the paper applies to this run's methods and metrics.</p>\n";
  else {
    html << "<p>Axes: " << html_escape(axes.edit) << " vs " << html_escape(axes.fidelity)
         << "; a curve dominates another when every point of the other is matched or beaten on both axes by one of its points "
            "(<a href=\"claims.md\">claims.md</a>).</p>\n<ul>\n";
    for (const auto& c : claims)
      html << "<li><b>" << (c.holds ? "holds" : "does not hold") << "</b> &mdash; " << html_escape(c.figure) << ": "
           << html_escape(c.statement) << "<br><small>" << html_escape(c.evidence) << "</small></li>\n";
    html << "</ul>\n";
  }
  html << "<h2>Trade-offs</h2>\n";
  if (plots.empty()) html << "<p>No plots (python3-matplotlib missing?).</p>\n";
  for (const auto& p : plots) {
    const std::string pdf = std::filesystem::path(p).replace_extension(".pdf").string();
    html << "<a href=\"" << pdf << "\"><img src=\"" << p << "\" alt=\"" << p << "\"></a>\n";
  }
  html << "<h2>Edits</h2>\n"
       << grids
       << "<script>\nwindow.addEventListener('load', () => {\n  const imgs = [...document.images];\n"
          "  const broken = imgs.filter(i => !i.complete || i.naturalWidth === 0);\n"
          "  document.getElementById('image-check').textContent = 'images loaded: ' + (imgs.length - broken.length) + ' of ' + imgs.length "
          "+\n"
          "    '; broken: ' + broken.length + (broken.length ? ' (' + broken.map(i => i.getAttribute('src')).join(', ') + ')' : '');\n"
          "});\n</script>\n</body></html>\n";
  return html.str();
}

}  // namespace

ReportFiles write_report(const std::filesystem::path& run_dir, const std::filesystem::path& plot_script, std::int64_t max_items) {
  const auto summary_path = run_dir / "summary.json";
  fs::require_regular_file(summary_path);
  const Json summary = config::load_json(summary_path);
  if (!summary.contains("metrics") || !summary["metrics"].is_object()) throw FormatError(summary_path.string(), "no metrics");
  const Experiment e = make_experiment(load_run_config(run_dir / "config.json"), (run_dir / "config.json").string());
  ReportFiles out;
  out.dir = run_dir / "report";
  std::filesystem::create_directories(out.dir);
  auto put = [&](const std::string& name, const std::string& content) {
    fs::write_atomic(out.dir / name, content);
    out.written.push_back(out.dir / name);
  };

  const Table table = metric_table(e, summary["metrics"]);
  const TableTexts texts = table_texts(e, summary, table);
  // The paper's findings that this run's methods allow, each with whether it holds here.
  const TradeoffAxes axes = tradeoff_axes(summary);
  const std::vector<Claim> claims = check_claims(e, summary);
  const std::string claims_md = claims_markdown(claims, axes);
  put("claims.md", "# " + e.name + "\n\n" + claims_md);
  put("claims.json", claims_json(claims, axes).dump(2) + "\n");
  put("tables.md", texts.md + "\n" + claims_md);
  put("tables.csv", texts.csv);
  put("tables.tex", texts.tex);
  const TableTexts categories = category_texts(e, summary);
  if (!categories.md.empty()) {
    put("categories.md", categories.md);
    put("categories.csv", categories.csv);
  }
  const std::vector<std::string> plots = draw_plots(plot_script, summary_path, out.dir, out.plots);
  const std::string grids = image_grids(run_dir, e, out.dir, max_items);
  put("index.html", html_page(e, summary, table, claims, axes, plots, grids));
  return out;
}

}  // namespace diffedit::eval
