// koppel: the command line of the research unit (and, later, the privacy officers). `query`
// runs an analysis spec against the linker and writes the disclosure-protected tables it
// releases (docs/query.md).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "cli/cli_errors.h"
#include "cli/command.h"
#include "cli/release_writer.h"
#include "cli/release_xlsx.h"
#include "core/exit_codes.h"
#include "core/file_contents.h"
#include "core/refusal.h"
#include "core/tls.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/engine_limits.h"

namespace koppel {
namespace {

// Exit codes, documented in docs/query.md and in `koppel query --help`.
enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,
  kExitUsage = 2,
  kExitSpec = 3,         // the spec, a file it names or a certificate: invalid or unreadable;
                         // or, found by the linker, the spec does not fit what was delivered
  kExitOutput = 4,       // the output directory cannot be written
  kExitUnreachable = 6,  // the linker did not answer
  kExitRefused = 7,      // the linker refused the query (the message names the rule)
};

// What each exit code means; `koppel query --help` lists them.
constexpr ExitCodeMeaning kExitCodes[] = {
    {kExitOk, "the release is written"},
    {kExitOther, "anything else"},
    {kExitUsage, "usage: bad or missing flags, unknown --format"},
    {kExitSpec,
     "the spec is invalid or beyond an engine limit, or it, a file it names or a certificate in "
     "--pki cannot be read; or the linker found that the spec does not fit the data delivered "
     "(the message starts with the spec's file:line:col)"},
    {kExitOutput, "the output directory cannot be written"},
    {kExitUnreachable, "the linker is unreachable or did not answer within --timeout"},
    {kExitRefused, "the linker refused the query (the message names the rule)"},
};

// The codes `koppel` itself returns before a command runs.
constexpr ExitCodeMeaning kChoiceExitCodes[] = {
    {kExitOk, "--help was printed"},
    {kExitUsage, "usage: no command, an unknown command, or bad or missing flags"},
};

struct QueryFlags {
  std::string spec;
  std::vector<std::string> formats = {"csv"};
  std::string out;
  std::string linker = "127.0.0.1:7443";
  std::string pki;
  std::string name;
  std::string covenant_id;
  int timeout_seconds = 600;
  bool print = false;
  bool exact = false;
  bool perturbed = false;
};

// The files the spec names, read relative to the spec's directory, keyed by the name as
// written in the spec (the linker resolves them by that name).
absl::StatusOr<std::map<std::string, std::string>> ReadNamedFiles(
    const analysis::AnalysisSpec& spec, const std::filesystem::path& spec_path) {
  std::map<std::string, std::string> files;
  if (!spec.prices_file.empty()) {
    std::filesystem::path path = spec_path.parent_path() / spec.prices_file;
    absl::StatusOr<std::string> text = ReadFileContents(path);
    if (!text.ok()) {
      return absl::NotFoundError(fmt::format(
          "{} (prices: in {})", std::string(text.status().message()), spec_path.string()));
    }
    files.emplace(spec.prices_file, std::move(*text));
  }
  return files;
}

std::shared_ptr<grpc::Channel> ConnectLinker(
    const QueryFlags& f, const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  return grpc::CreateCustomChannel(f.linker, creds, args);
}

int FailedCall(const QueryFlags& f, const std::string& spec_name, const absl::Status& status) {
  if (std::optional<v1::Refusal> refusal = RefusalOf(status)) {
    return Fail(kExitRefused,
                fmt::format("the linker refused the query: {}", std::string(status.message())),
                fmt::format("refused by {}; change the spec, or ask the covenant's privacy "
                            "officer about that rule",
                            DescribeRefusal(*refusal)));
  }
  // The linker names a place in the spec when the spec does not fit the deliveries (an
  // attribute of another type, a code without a price): the spec is wrong, not a rule.
  if (status.code() == absl::StatusCode::kInvalidArgument &&
      absl::StartsWith(status.message(), spec_name + ":")) {
    return Fail(kExitSpec,
                fmt::format("the linker found the spec does not fit the data delivered: {}",
                            std::string(status.message())),
                "fix the spec (docs/analysis.md); nothing was released or spent");
  }
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return Fail(
          kExitUnreachable,
          fmt::format("cannot reach the linker at {}: {}", f.linker, std::string(status.message())),
          "check --linker and that the linker is running; a certificate the linker does "
          "not trust (another CA in --pki) shows up the same way");
    case absl::StatusCode::kDeadlineExceeded:
      return Fail(
          kExitUnreachable,
          fmt::format("no answer from the linker at {} within {} s", f.linker, f.timeout_seconds),
          "check that the linker is running and reachable, or raise --timeout for a "
          "large analysis");
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kResourceExhausted:  // the covenant's release budget is spent
    case absl::StatusCode::kNotFound:           // the linker serves no such covenant
      return Fail(kExitRefused,
                  fmt::format("the linker refused the query: {}", std::string(status.message())),
                  "change the spec, or ask the covenant's privacy officer about the rule named");
    case absl::StatusCode::kUnimplemented:
      return Fail(kExitOther,
                  fmt::format("the linker at {} does not run queries: {}", f.linker,
                              std::string(status.message())),
                  "upgrade the linker to a version that offers Query");
    default:
      return Fail(kExitOther,
                  fmt::format("the query failed ({}): {}", absl::StatusCodeToString(status.code()),
                              std::string(status.message())));
  }
}

void PrintSummary(const v1::Release& release, const QueryFlags& f,
                  const std::vector<std::filesystem::path>& written) {
  if (f.print) {
    for (const v1::ReleasedTable& table : release.tables()) {
      fmt::print("{}\n", FormatTableText(table));
    }
  }
  size_t width = 0;
  for (const v1::ReleasedTable& table : release.tables()) {
    width = std::max(width, table.name().size());
  }
  for (const v1::ReleasedTable& table : release.tables()) {
    fmt::print("{:<{}}  {:>5} rows  {:>4} cells suppressed\n", table.name(), width,
               table.rows_size(), table.cells_suppressed());
  }
  std::vector<std::string> names;
  for (const std::filesystem::path& path : written) names.push_back(path.filename().string());
  fmt::print("released {} table(s) as {} to {}: {}\n", release.tables_size(),
             fmt::join(f.formats, ","), f.out, fmt::join(names, ", "));
  const v1::ReleaseMetadata& meta = release.metadata();
  if (meta.mode() == v1::RELEASE_MODE_PERTURBED) {
    fmt::print(
        "perturbed release (exploratory spec): every count carries noise of at most {} "
        "(cell key method, table sha256 {})\n",
        meta.perturbation_max_noise(), meta.perturbation_table_sha256());
  } else {
    fmt::print(
        "exact release of approved analysis {}: checked with {} earlier release(s); {} "
        "cell(s) suppressed because of them\n",
        meta.approved_analysis(), meta.earlier_releases_checked(), meta.cells_suppressed_history());
  }
  for (const std::string& warning : release.metadata().warnings()) {
    fmt::print(stderr, "koppel: warning: {}\n", warning);
  }
}

int RunQuery(const QueryFlags& f) {
  std::vector<ReleaseFormat> formats;
  for (const std::string& name : f.formats) {
    std::optional<ReleaseFormat> format = ReleaseFormatFromName(name);
    if (!format) {
      return Fail(kExitUsage,
                  fmt::format("unknown --format {}; use csv, json, md, html or xlsx", name));
    }
    if (std::find(formats.begin(), formats.end(), *format) == formats.end()) {
      formats.push_back(*format);
    }
  }
  const std::filesystem::path spec_path(f.spec);
  absl::StatusOr<std::string> yaml = ReadFileContents(spec_path);
  if (!yaml.ok()) return Fail(kExitSpec, yaml.status(), "check the --spec path");
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(*yaml, f.spec);
  if (!spec.ok()) {
    return Fail(kExitSpec, spec.status(), "fix the spec; docs/analysis.md describes its keys");
  }
  if (absl::Status limits = analysis::CheckEngineLimits(*spec); !limits.ok()) {
    return Fail(kExitSpec, limits, "docs/query.md lists the engine's limits");
  }
  absl::StatusOr<std::map<std::string, std::string>> files = ReadNamedFiles(*spec, spec_path);
  if (!files.ok()) {
    return Fail(kExitSpec, files.status(),
                "file names in a spec are relative to the spec's directory");
  }
  if (absl::Status s = PrepareOutputDir(f.out); !s.ok()) return Fail(kExitOutput, s);
  if (std::find(formats.begin(), formats.end(), ReleaseFormat::kXlsx) != formats.end()) {
    if (absl::Status s = CheckXlsxCanBeWritten(); !s.ok()) {
      return Fail(kExitOther, s,
                  absl::IsFailedPrecondition(s) ? "report this to koppel's maintainers"
                                                : "set TMPDIR to a directory you can write to");
    }
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(TlsFiles::FromPkiDir(f.pki, f.name));
  if (!credentials.ok()) return Fail(kExitSpec, credentials.status());

  v1::QueryRequest request;
  request.set_spec_name(spec_path.filename().string());
  request.set_covenant_id(f.covenant_id);
  request.set_spec_yaml(*yaml);
  request.set_mode(f.exact       ? v1::RELEASE_MODE_EXACT
                   : f.perturbed ? v1::RELEASE_MODE_PERTURBED
                                 : v1::RELEASE_MODE_UNSPECIFIED);
  for (auto& [name, text] : *files) (*request.mutable_files())[name] = std::move(text);
  v1::LinkerService::Stub stub(ConnectLinker(f, *credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(f.timeout_seconds));
  v1::QueryResponse response;
  absl::Status status = FromGrpcStatus(stub.Query(&context, request, &response));
  if (!status.ok()) return FailedCall(f, request.spec_name(), status);

  std::vector<std::filesystem::path> written;
  for (ReleaseFormat format : formats) {
    absl::StatusOr<std::vector<std::filesystem::path>> paths =
        WriteRelease(response.release(), format, f.out, &*spec);
    if (!paths.ok()) {
      if (absl::IsInvalidArgument(paths.status())) {
        return Fail(kExitOther,
                    fmt::format("the linker's release cannot be written: {}",
                                std::string(paths.status().message())),
                    "report this to the linker's operator");
      }
      if (absl::IsPermissionDenied(paths.status())) return Fail(kExitOutput, paths.status());
      // The xlsx workbook, made in a temporary directory before it is written to --out.
      return Fail(kExitOther, paths.status(), "see docs/query.md (xlsx)");
    }
    written.insert(written.end(), paths->begin(), paths->end());
  }
  PrintSummary(response.release(), f, written);
  return kExitOk;
}

void AddQuery(CLI::App* app, QueryFlags* f) {
  CLI::App* query = app->add_subcommand(
      "query",
      "run an analysis spec against the linker and write the disclosure-protected "
      "tables it releases");
  query->add_option("--spec", f->spec, "the analysis spec (YAML); checked here before sending")
      ->required();
  query
      ->add_option("--format", f->formats,
                   "csv (a file per table), json, md, html (a printable report with charts) or "
                   "xlsx (an Excel workbook); several, comma-separated, write the one release "
                   "in each")
      ->delimiter(',')
      ->check(CLI::IsMember({"csv", "json", "md", "html", "xlsx"}))
      ->capture_default_str();
  query->add_option("--out", f->out, "directory for the release (created if missing)")->required();
  query->add_option("--linker", f->linker, "linker address, host:port")->capture_default_str();
  query->add_option("--pki", f->pki, "directory made by scripts/pki")
      ->required()
      ->check(CLI::ExistingDirectory);
  query->add_option("--name", f->name, "this research unit's certificate name in --pki")
      ->required();
  query->add_option("--covenant-id", f->covenant_id,
                    "the covenant to query under (default: the one naming you as a recipient)");
  query->add_option("--timeout", f->timeout_seconds, "seconds to wait for the release")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  query->add_flag("--print", f->print, "also print every table as text");
  CLI::Option* exact = query->add_flag(
      "--exact", f->exact,
      "require an exact release: refused unless the covenant approves this spec (by digest)");
  query
      ->add_flag("--perturbed", f->perturbed,
                 "ask for a perturbed release (cell key method), where the covenant allows "
                 "exploratory specs")
      ->excludes(exact);
  query->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitSpec, kExitOutput,
                                             kExitUnreachable, kExitRefused, kExitOther}));
}

int Main(int argc, char** argv) {
  CLI::App app{
      "koppel: run analyses against the koppel linker and receive only disclosure-protected "
      "tables. See docs/query.md."};
  app.require_subcommand(1);
  app.footer(ExitCodesFooter(kChoiceExitCodes, {kExitOk, kExitUsage},
                             "Every other exit code is the command's: `koppel <command> --help` "
                             "lists them."));
  QueryFlags query;
  AddQuery(&app, &query);
  const std::vector<Command> commands = {AddPolicyCommand(&app), AddCovenantCommand(&app),
                                         AddAuditCommand(&app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (app.got_subcommand("query")) return RunQuery(query);
  for (const Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return kExitUsage;
}

}  // namespace
}  // namespace koppel

int main(int argc, char** argv) { return koppel::Main(argc, argv); }
