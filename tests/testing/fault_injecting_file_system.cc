#include "tests/testing/fault_injecting_file_system.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"

namespace koppel::test {
namespace {

bool Matches(const std::string& prefix, const std::filesystem::path& path) {
  return path.string().starts_with(prefix);
}

absl::Status Injected(int error, std::string_view operation, const std::filesystem::path& path) {
  return absl::ErrnoToStatus(error, absl::StrCat(std::string(operation), " ", path.string()));
}

}  // namespace

class FaultInjectingWritableFile : public WritableFile {
 public:
  FaultInjectingWritableFile(FaultInjectingFileSystem& fs, std::unique_ptr<WritableFile> base)
      : WritableFile(base->path()), fs_(fs), base_(std::move(base)) {}

  WriteResult WriteSome(std::string_view data) override {
    const WriteResult allowed = fs_.DecideWrite(path(), data.size());
    if (allowed.error != 0) return allowed;
    return base_->WriteSome(data.substr(0, allowed.bytes));
  }
  absl::Status Sync() override {
    if (auto error = fs_.Fault(FaultInjectingFileSystem::Operation::kSync, path())) {
      return Injected(*error, "cannot sync", path());
    }
    return base_->Sync();
  }
  absl::Status SyncData() override {
    if (auto error = fs_.Fault(FaultInjectingFileSystem::Operation::kSync, path())) {
      return Injected(*error, "cannot sync", path());
    }
    return base_->SyncData();
  }
  absl::Status Truncate(uint64_t size) override {
    if (auto error = fs_.Fault(FaultInjectingFileSystem::Operation::kTruncate, path())) {
      return Injected(*error, "cannot truncate", path());
    }
    return base_->Truncate(size);
  }
  absl::StatusOr<uint64_t> Size() override { return base_->Size(); }
  absl::Status Close() override { return base_->Close(); }

 private:
  FaultInjectingFileSystem& fs_;
  std::unique_ptr<WritableFile> base_;
};

void FaultInjectingFileSystem::FailNth(Operation operation, int nth, int error,
                                       std::string path_prefix) {
  absl::MutexLock lock(&mutex_);
  rules_.push_back({.operation = operation,
                    .path_prefix = std::move(path_prefix),
                    .error = error,
                    .skip = nth - 1,
                    .once = true});
}

void FaultInjectingFileSystem::FailAlways(Operation operation, int error, std::string path_prefix) {
  absl::MutexLock lock(&mutex_);
  rules_.push_back({.operation = operation,
                    .path_prefix = std::move(path_prefix),
                    .error = error,
                    .skip = 0,
                    .once = false});
}

void FaultInjectingFileSystem::FailWritesAfter(uint64_t budget, int error,
                                               std::string path_prefix) {
  absl::MutexLock lock(&mutex_);
  budget_ = Budget{.bytes = budget, .error = error, .path_prefix = std::move(path_prefix)};
}

void FaultInjectingFileSystem::ShortWrites(size_t max_bytes, bool interrupt) {
  absl::MutexLock lock(&mutex_);
  max_write_ = max_bytes;
  interrupt_ = interrupt;
}

void FaultInjectingFileSystem::Clear() {
  absl::MutexLock lock(&mutex_);
  rules_.clear();
  budget_.reset();
  max_write_ = 0;
  interrupt_ = false;
}

int FaultInjectingFileSystem::Count(Operation operation) const {
  absl::MutexLock lock(&mutex_);
  auto it = counts_.find(operation);
  return it == counts_.end() ? 0 : it->second;
}

std::optional<int> FaultInjectingFileSystem::Fault(Operation operation,
                                                   const std::filesystem::path& path) {
  absl::MutexLock lock(&mutex_);
  ++counts_[operation];
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (it->operation != operation || !Matches(it->path_prefix, path)) continue;
    if (it->skip > 0) {
      --it->skip;
      continue;
    }
    const int error = it->error;
    if (it->once) rules_.erase(it);
    return error;
  }
  return std::nullopt;
}

WriteResult FaultInjectingFileSystem::DecideWrite(const std::filesystem::path& path, size_t size) {
  if (auto error = Fault(Operation::kWrite, path)) return {.bytes = 0, .error = *error};
  absl::MutexLock lock(&mutex_);
  if (interrupt_) {
    interrupted_last_ = !interrupted_last_;
    if (interrupted_last_) return {.bytes = 0, .error = EINTR};
  }
  size_t allowed = max_write_ == 0 ? size : std::min(size, max_write_);
  if (budget_.has_value() && Matches(budget_->path_prefix, path)) {
    if (budget_->bytes == 0) return {.bytes = 0, .error = budget_->error};
    allowed = static_cast<size_t>(std::min<uint64_t>(allowed, budget_->bytes));
    budget_->bytes -= allowed;
  }
  return {.bytes = allowed, .error = 0};
}

absl::StatusOr<std::unique_ptr<SequentialFile>> FaultInjectingFileSystem::NewSequentialFile(
    const std::filesystem::path& path) {
  if (auto error = Fault(Operation::kOpen, path)) return Injected(*error, "cannot open", path);
  return base_.NewSequentialFile(path);
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectingFileSystem::NewWritableFile(
    const std::filesystem::path& path, const WritableFileOptions& options) {
  if (auto error = Fault(Operation::kOpen, path)) return Injected(*error, "cannot create", path);
  absl::StatusOr<std::unique_ptr<WritableFile>> file = base_.NewWritableFile(path, options);
  if (!file.ok()) return file.status();
  return std::make_unique<FaultInjectingWritableFile>(*this, std::move(*file));
}

absl::Status FaultInjectingFileSystem::RenameFile(const std::filesystem::path& from,
                                                  const std::filesystem::path& to) {
  if (auto error = Fault(Operation::kRename, from)) {
    return absl::ErrnoToStatus(*error,
                               absl::StrCat("cannot rename ", from.string(), " to ", to.string()));
  }
  return base_.RenameFile(from, to);
}

absl::Status FaultInjectingFileSystem::RemoveFile(const std::filesystem::path& path) {
  if (auto error = Fault(Operation::kRemove, path)) return Injected(*error, "cannot remove", path);
  return base_.RemoveFile(path);
}

absl::Status FaultInjectingFileSystem::SyncDirectory(const std::filesystem::path& dir) {
  if (auto error = Fault(Operation::kSyncDirectory, dir)) {
    return Injected(*error, "cannot sync the directory", dir);
  }
  return base_.SyncDirectory(dir);
}

absl::StatusOr<bool> FaultInjectingFileSystem::FileExists(const std::filesystem::path& path) {
  return base_.FileExists(path);
}

absl::StatusOr<std::unique_ptr<FileLock>> FaultInjectingFileSystem::LockFile(
    const std::filesystem::path& path) {
  return base_.LockFile(path);
}

}  // namespace koppel::test
