// Runs a built binary as a child process with given stdin and captures its exit code, stdout
// and stderr: integration tests drive the real CLIs, not their functions.
#ifndef KOPPEL_TESTS_TESTING_SUBPROCESS_H_
#define KOPPEL_TESTS_TESTING_SUBPROCESS_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace koppel::test {

struct ProcessResult {
  int exit_code = -1;  // -1 when the process died from a signal
  std::string out;
  std::string err;
};

// True when a process's output (or any text) contains `needle`.
inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Runs `argv` (argv[0] is a path) with `input` on stdin.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input = "");

// A process running in the background with stdout and stderr appended to a log file. Killed
// (SIGKILL) on destruction if still running.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  int pid() const { return pid_; }
  void Signal(int signal);
  // True once the process has ended (it is reaped then; Wait() returns its status at once).
  bool HasExited();
  // Waits for the exit; returns the exit code, or -signal when killed by a signal.
  int Wait();

 private:
  int pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// A service (vault or linker) running in the background on a port it chose.
struct RunningService {
  std::unique_ptr<BackgroundProcess> process;
  std::string address;  // 127.0.0.1:PORT; empty when it announced no port (see WaitForPortFile)
};

// Starts `argv` with `--listen 127.0.0.1:0 --port-file PORT_FILE` appended, its output appended
// to `log`, and waits for the port it announces (WaitForPortFile in port_file.h).
RunningService StartService(std::vector<std::string> argv, const std::filesystem::path& port_file,
                            const std::filesystem::path& log);

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_SUBPROCESS_H_
