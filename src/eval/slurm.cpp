#include "eval/slurm.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "eval/runner.h"

namespace diffedit::eval {

namespace {

// Single-quoted for the shell.
std::string quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

// Runs a command, returns its stdout; InputError naming the command when it fails.
std::string capture(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw InputError("sbatch", "cannot run: " + command);
  std::string out;
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  if (status != 0) throw InputError("sbatch", command + " failed: " + out);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string header(const std::string& name, const SlurmOptions& o, const std::string& log) {
  std::ostringstream s;
  s << "#!/bin/bash\n#SBATCH --job-name=" << name << "\n#SBATCH --chdir=" << std::filesystem::current_path().string()
    << "\n#SBATCH --output=" << log << "\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  if (!o.time.empty()) s << "#SBATCH --time=" << o.time << "\n";
  if (o.gpus_per_task > 0) s << "#SBATCH --gpus-per-task=" << o.gpus_per_task << "\n";
  if (o.cpus_per_task > 0) s << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n";
  if (!o.extra_sbatch.empty()) s << "#SBATCH " << o.extra_sbatch << "\n";
  return s.str();
}

}  // namespace

SlurmLaunch launch_slurm(const config::Json& resolved, const SlurmOptions& o) {
  if (o.shards < 1) throw InputError("--shards", "must be at least 1");
  const auto out = std::filesystem::absolute(o.out);
  claim_directory(out, resolved, false);  // the merged results go here; refuses a different config
  const auto slurm_dir = out / "slurm";
  std::filesystem::create_directories(slurm_dir);
  const auto experiment = slurm_dir / "experiment.json";
  fs::write_atomic(experiment, resolved.dump(2) + "\n");
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string cache = o.cache_dir.empty() ? "--no-cache" : "--cache " + quote(o.cache_dir.string());
  const std::string name = "diffedit-" + resolved.value("name", std::string("run"));

  SlurmLaunch l;
  l.array_script = slurm_dir / "shards.sbatch";
  std::ostringstream array;
  array << header(name, o, (slurm_dir / "shard-%a.log").string()) << "#SBATCH --array=0-" << o.shards - 1 << "\n\n"
        << "# One shard of the experiment: items with index % " << o.shards << " == $SLURM_ARRAY_TASK_ID.\n"
        << "exec " << quote(exe) << " -q run " << quote(experiment.string()) << " --out " << quote((out / "shards").string())
        << "/\"$SLURM_ARRAY_TASK_ID\" --shard \"$SLURM_ARRAY_TASK_ID/" << o.shards << "\" " << cache << "\n";
  fs::write_atomic(l.array_script, array.str());

  l.merge_script = slurm_dir / "merge.sbatch";
  std::ostringstream merge;
  merge << header(name + "-merge", o, (slurm_dir / "merge.log").string()) << "\n# Pools the shards into " << out.string() << ".\nexec "
        << quote(exe) << " -q merge";
  for (std::int64_t i = 0; i < o.shards; ++i) merge << ' ' << quote((out / "shards" / std::to_string(i)).string());
  merge << " --out " << quote(out.string()) << ' ' << cache << "\n";
  fs::write_atomic(l.merge_script, merge.str());
  if (!o.submit) return l;

  std::filesystem::remove(out / "summary.json");  // a stale merge must not pass for this one

  l.array_job = capture("sbatch --parsable " + quote(l.array_script.string()));
  l.array_job = l.array_job.substr(0, l.array_job.find(';'));
  l.merge_job =
      capture("sbatch --parsable --dependency=afterok:" + l.array_job + " --kill-on-invalid-dep=yes " + quote(l.merge_script.string()));
  l.merge_job = l.merge_job.substr(0, l.merge_job.find(';'));
  fs::write_atomic(slurm_dir / "jobs.json",
                   config::Json{{"array_job", l.array_job}, {"merge_job", l.merge_job}, {"shards", o.shards}}.dump(2) + "\n");
  log::info("submitted job array ", l.array_job, " (", o.shards, " shards) and merge job ", l.merge_job);

  if (o.wait) {
    // Until neither job is known to the queue any more.
    for (;;) {
      const std::string queued = capture("squeue -h -o %i -j " + l.array_job + "," + l.merge_job + " || true");
      if (queued.empty() || queued.find("Invalid job id") != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    if (!std::filesystem::exists(out / "summary.json"))
      throw InputError(out.string(), "the Slurm jobs ended without a merged summary; see " + slurm_dir.string() + "/*.log");
  }
  return l;
}

}  // namespace diffedit::eval
