// The paper's qualitative findings, checked on a run: each finding that the run's methods allow
// becomes a line that says whether it holds, with the numbers behind it (`diffedit report`'s
// "Claims" section, claims.md and claims.json).
//
// Curves. A method's settings form one curve per combination of its grid values other than the
// swept one (strength r; ILVR's factor; FlexIT's iterations). A point is (edit, fidelity) on the
// first axes the run measured: edit = edit_success (higher is better), else csfid (lower), else
// clip_score (higher); fidelity = unedited_psnr_db (higher), else lpips (lower). Rates carry their
// binomial standard error sqrt(p (1 - p) / n).
// Dominance (as the paper reads its figures): curve A dominates curve B when every point of B is
// matched or beaten on both axes by some point of A.
// The findings (figure of arXiv 2210.11427):
//   Figure 4        DiffEdit's curve dominates SDEdit's, and ILVR's
//   Figure 6 left   Encode-Decode and DiffEdit without encoding each dominate SDEdit; DiffEdit
//                   dominates both
//   Figure 6 right  DiffEdit at threshold 0.5 dominates thresholds 0.25 and 0.75
//   Figure 7        on generated images (toy-generated, imagen-pairs), DiffEdit with the reference
//                   text dominates DiffEdit without it
//   §4.2            DiffEdit's latent mask operator dominates the GLIDE-style one (the paper
//                   compares them at r = 0.8: CSFID 23.6 vs 26.4 at equal LPIPS)
// DiffEdit's curve is the first whose parameters are the paper's (threshold 0.5, the dataset's
// reference text, the latent operator), the others varying one of them.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "eval/experiment.h"

namespace diffedit::eval {

struct CurvePoint {
  std::string setting;  // the setting's name, e.g. "strength=0.5"
  double sweep = 0;     // the swept value (r, factor or iterations)
  double edit = 0, fidelity = 0;
  double edit_se = -1;  // standard error of a rate; -1 when the edit axis is not a rate
  std::int64_t n = 0;   // records behind the point
};

struct Curve {
  std::string name;                // "DiffEdit", "DiffEdit (threshold=0.25)"
  std::string label, method;       // the config's label and the registry name
  config::Json fixed;              // grid values held fixed along the curve
  config::Json parameters;         // the method's parameters along the curve (its first point's, swept key removed)
  std::vector<CurvePoint> points;  // by swept value
};

struct TradeoffAxes {
  std::string edit, fidelity;
  bool edit_higher_is_better = true, fidelity_higher_is_better = true;
};

struct Claim {
  std::string figure;     // "Figure 4"
  std::string statement;  // "DiffEdit dominates SDEdit"
  bool holds = false;
  std::string evidence;  // both curves' points and the points not matched
};

// sqrt(p (1 - p) / n): the standard error of a rate p over n trials (NaN for n = 0).
double binomial_standard_error(double p, std::int64_t n);

// The axes the summary's metrics allow; empty names when it has no edit or no fidelity metric.
TradeoffAxes tradeoff_axes(const config::Json& summary);
// Every curve of the run on `axes`.
std::vector<Curve> tradeoff_curves(const Experiment& e, const config::Json& summary, const TradeoffAxes& axes);
// True when every point of `b` is matched or beaten on both axes by a point of `a` (false when
// `a` or `b` has no point).
bool curve_dominates(const Curve& a, const Curve& b, const TradeoffAxes& axes);
// The findings the run's methods and dataset allow, in the order above.
std::vector<Claim> check_claims(const Experiment& e, const config::Json& summary);

std::string claims_markdown(const std::vector<Claim>& claims, const TradeoffAxes& axes);
config::Json claims_json(const std::vector<Claim>& claims, const TradeoffAxes& axes);

}  // namespace diffedit::eval
