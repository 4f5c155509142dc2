// Replay driver for fuzz targets in builds without libFuzzer: runs
// LLVMFuzzerTestOneInput once over every file named on the command line
// (directories are walked recursively, in sorted order), or over a few
// built-in inputs when there are no arguments. Arguments starting with '-'
// (libFuzzer flags) are ignored, so the same command line works for both.
// Exits non-zero if a path cannot be read; a failed check in the target
// aborts, as under libFuzzer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

void RunOne(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

bool ReadFile(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// Appends the regular files at `path` (a file or a directory) to *files.
bool CollectFiles(const fs::path& path, std::vector<fs::path>* files) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    files->push_back(path);
    return true;
  }
  if (!fs::is_directory(path, ec)) return false;
  std::vector<fs::path> found;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) found.push_back(it->path());
  }
  if (ec) return false;
  std::sort(found.begin(), found.end());
  files->insert(files->end(), found.begin(), found.end());
  return true;
}

// Generic inputs for a smoke run: empty, every single byte, and a few short
// byte patterns.
size_t RunBuiltinInputs() {
  size_t count = 0;
  RunOne(std::string());
  ++count;
  for (int b = 0; b < 256; ++b) {
    RunOne(std::string(1, static_cast<char>(b)));
    ++count;
  }
  for (int first = 0; first < 8; ++first) {
    std::string ramp(1, static_cast<char>(first));
    for (int b = 0; b < 256; ++b) ramp.push_back(static_cast<char>(b));
    RunOne(ramp);
    RunOne(std::string(1, static_cast<char>(first)) + std::string(300, '\xff'));
    RunOne(std::string(1, static_cast<char>(first)) + std::string(300, '\0'));
    count += 3;
  }
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<fs::path> files;
  bool any_path = false;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;
    any_path = true;
    if (!CollectFiles(argv[i], &files)) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[i]);
      return 1;
    }
  }
  if (!any_path) {
    std::printf("replayed %zu built-in inputs\n", RunBuiltinInputs());
    return 0;
  }
  std::string input;
  for (const fs::path& file : files) {
    if (!ReadFile(file, &input)) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], file.c_str());
      return 1;
    }
    RunOne(input);
  }
  std::printf("replayed %zu inputs\n", files.size());
  return 0;
}
