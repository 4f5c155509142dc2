// `livehub bench`: the load generator that measures the hub's fan-out.
//
//   livehub bench fanout  N subscribers (WebSocket or SSE) on S streams, one
//                         publisher at R msgs/s; reports loss, order, latency,
//                         hub CPU/RSS and the tool's own CPU.
//   livehub bench fanout --idle   N idle WebSocket connections: hub RSS per
//                         connection.
//   livehub bench ramp    fanout at rising rates until loss or p99 too high.
//
// `--peer nchan|pushpin` points the same load at a peer server for the
// side-by-side runs of bench/peers/ (docs/benchmarks.md, "Peers");
// `--stalled F` makes a fraction of the subscribers stop reading.
//
// Reading order: helpers (clock, /proc, histogram) -> HubProcess (spawns and
// measures `livehub serve`) -> SubscriberLoop (one epoll thread, N sockets)
// -> Publisher (its own thread, paced HTTP keep-alive publishes) -> the
// scenarios -> the CLI.
//
// Thread safety: the subscriber loop runs on the calling thread and the
// publisher on one thread of its own; they share only atomics (see
// Publisher). Everything is loopback-only and bounded in count and time.
// The hot path (a read of up to 256 KB, then frames/SSE blocks) allocates
// nothing beyond what ws::FrameParser does: events are recognised with
// string_view::find on the envelope ("seq", "t_ns"), not parsed as JSON.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "codec/ws_codec.h"
#include "core/json_writer.h"
#include "tools/tools.h"

namespace livehub {
namespace {

// Limits that keep every run bounded.
constexpr int kMaxSubscribers = 100'000;
constexpr int kMaxStreams = 10'000;
constexpr double kMaxDurationS = 600;
constexpr double kMaxRate = 1'000'000;
constexpr int kMaxPayload = 1 << 20;
constexpr int kMaxPublishers = 128;
constexpr int kMaxPendingHandshakes = 256;   // connects in flight at once (default)
constexpr size_t kReadBufBytes = 256 << 10;  // one read() of the subscriber loop
constexpr size_t kMaxHeadBytes = 16 << 10;   // HTTP response head
constexpr size_t kMaxSseBlockBytes = 4 << 20;
// A stalled subscriber's socket receive buffer: small, so that what it does
// not read backs up in the server within seconds, not in loopback buffers.
constexpr int kStalledRcvBuf = 4096;
constexpr int64_t kReplyTimeoutNs = 10'000'000'000;  // publisher: after the last send
constexpr int kHubStartTimeoutMs = 15'000;
// Streams are <prefix><i>. Each run gets its own prefix, so a server that
// outlives the run (a peer, or `--url`) never replays an earlier run's
// messages into this one.
std::string g_stream_prefix = "bench/s";

int64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // the hub's steady_clock is the same clock
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string StreamName(int i) { return g_stream_prefix + std::to_string(i); }

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Parses the decimal digits at s[pos...]; 0 if there are none.
uint64_t ParseU64(std::string_view s, size_t pos) {
  uint64_t v = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') v = v * 10 + (s[pos++] - '0');
  return v;
}

// Value of an HTTP header in a response head (name matched case-insensitively,
// no copy: it runs once per publish reply).
std::string_view HeaderValue(std::string_view head, std::string_view name) {
  size_t line = head.find("\r\n");  // skip the status line
  while (line != std::string_view::npos && line + 2 < head.size()) {
    size_t b = line + 2, e = head.find("\r\n", b);
    if (e == std::string_view::npos) e = head.size();
    std::string_view h = head.substr(b, e - b);
    if (h.size() > name.size() && h[name.size()] == ':' &&
        strncasecmp(h.data(), name.data(), name.size()) == 0) {
      size_t v = name.size() + 1;
      while (v < h.size() && h[v] == ' ') ++v;
      return h.substr(v);
    }
    line = e;
  }
  return {};
}

std::string Base64(const uint8_t* data, size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (i + 1 < n) v |= uint32_t{data[i + 1]} << 8;
    if (i + 2 < n) v |= data[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < n ? kAlphabet[v & 63] : '=');
  }
  return out;
}

// A non-blocking TCP socket connecting to host:port; -1 with *err on failure.
// rcvbuf > 0: a small receive buffer, set before connect so that the
// advertised window stays small (a stalled subscriber).
int StartConnect(const sockaddr_in& addr, std::string* err, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = Errno("socket");
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 &&
      errno != EINPROGRESS) {
    *err = Errno("connect");
    ::close(fd);
    return -1;
  }
  return fd;
}

// Blocks until fd's connect finishes (bounded by timeout_ms).
bool FinishConnect(int fd, int timeout_ms, std::string* err) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  int n = ::epoll_wait(ep, &ev, 1, timeout_ms);
  ::close(ep);
  int so_error = 0;
  socklen_t len = sizeof so_error;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (n <= 0 || so_error != 0) {
    *err = n <= 0 ? "connect timed out" : std::string("connect: ") + std::strerror(so_error);
    return false;
  }
  return true;
}

// ===========================================================================
// Measuring processes: /proc and getrusage
// ===========================================================================

// CPU time (user + system) of a process in ns, from /proc/<pid>/stat; -1 if gone.
int64_t ProcCpuNs(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  size_t rparen = line.rfind(')');  // the command name may contain spaces
  if (rparen == std::string::npos) return -1;
  std::istringstream rest(line.substr(rparen + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  // Fields after the name start at 3 (state); utime is 14, stime 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<int64_t>((utime + stime) * (1'000'000'000.0 / sysconf(_SC_CLK_TCK)));
}

// Resident set size in KB from /proc/<pid>/status (VmRSS); -1 if unknown.
int64_t ProcRssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// A server may be several processes (Pushpin: runner, condure, proxy,
// handler): its CPU and RSS are the sums over all of them; -1 if the list is
// empty or one of them is gone.
int64_t PidsCpuNs(const std::vector<pid_t>& pids) {
  if (pids.empty()) return -1;
  int64_t sum = 0;
  for (pid_t pid : pids) {
    int64_t ns = ProcCpuNs(pid);
    if (ns < 0) return -1;
    sum += ns;
  }
  return sum;
}

int64_t PidsRssKb(const std::vector<pid_t>& pids) {
  if (pids.empty()) return -1;
  int64_t sum = 0;
  for (pid_t pid : pids) {
    int64_t kb = ProcRssKb(pid);
    if (kb < 0) return -1;
    sum += kb;
  }
  return sum;
}

int64_t SelfCpuNs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return int64_t{tv.tv_sec} * 1'000'000'000 + tv.tv_usec * 1000;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

bool PinToCpu(pid_t pid, int cpu, std::string* err) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(pid, sizeof set, &set) != 0) {
    *err = "cannot pin to CPU " + std::to_string(cpu) + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

// Raises RLIMIT_NOFILE to the hard limit; returns the new soft limit.
rlim_t RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

// A CPU/wall sample of the hub (if known) and of this process.
struct CpuSample {
  int64_t wall_ns = 0;
  int64_t hub_cpu_ns = -1;
  int64_t self_cpu_ns = 0;
  static CpuSample Take(const std::vector<pid_t>& hub_pids) {
    CpuSample s;
    s.wall_ns = MonoNs();
    s.hub_cpu_ns = PidsCpuNs(hub_pids);
    s.self_cpu_ns = SelfCpuNs();
    return s;
  }
};

// ===========================================================================
// LatencyHistogram: log-linear buckets (64 per power of two, <1.6% error)
// ===========================================================================

// Thread safety: not thread-safe; owned by the subscriber loop.
class LatencyHistogram {
 public:
  void Record(int64_t ns) {
    uint64_t v = ns < 0 ? 0 : static_cast<uint64_t>(ns);
    ++counts_[Index(v)];
    ++count_;
    max_ = std::max(max_, v);
  }
  uint64_t count() const { return count_; }
  int64_t max() const { return static_cast<int64_t>(max_); }
  // The value below which a fraction q of the samples lie (bucket midpoint).
  int64_t Quantile(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min<int64_t>(Midpoint(i), max());
    }
    return max();
  }

 private:
  static constexpr int kSubBits = 6;
  static constexpr uint64_t kSub = 1 << kSubBits;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) * kSub;
  static size_t Index(uint64_t v) {
    if (v < kSub) return v;
    int e = 63 - __builtin_clzll(v);  // >= kSubBits
    int shift = e - kSubBits;
    return (shift + 1) * kSub + ((v >> shift) - kSub);
  }
  static int64_t Midpoint(size_t i) {
    if (i < kSub) return static_cast<int64_t>(i);
    uint64_t group = i / kSub, sub = i % kSub;
    uint64_t shift = group - 1;
    return static_cast<int64_t>(((kSub + sub) << shift) + ((uint64_t{1} << shift) >> 1));
  }
  std::vector<uint64_t> counts_ = std::vector<uint64_t>(kBuckets);
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

// ===========================================================================
// HubProcess: `livehub serve` started by the bench (--spawn)
// ===========================================================================

// Runs /proc/self/exe serve --listen 127.0.0.1:0 --no-demo --data-dir <tmp>
// with its stderr in <tmp>/hub.log, and reads the port from the "listening"
// log line. The child dies with us (PR_SET_PDEATHSIG).
// Thread safety: not thread-safe.
class HubProcess {
 public:
  ~HubProcess() { Stop(); }

  // Starts the hub pinned to `cpu` (if >= 0); false with *err on failure.
  bool Start(int cpu, const std::string& config_file, bool keep_dir, std::string* err) {
    keep_dir_ = keep_dir;
    char tmpl[] = "/tmp/livehub-bench-XXXXXX";
    if (!mkdtemp(tmpl)) {
      *err = Errno("mkdtemp");
      return false;
    }
    dir_ = tmpl;
    log_path_ = dir_ + "/hub.log";
    std::string data_dir = dir_ + "/data";
    std::vector<std::string> args = {"livehub",   "serve",      "--listen", "127.0.0.1:0",
                                     "--no-demo", "--data-dir", data_dir};
    if (!config_file.empty()) {
      args.push_back("--config");
      args.push_back(config_file);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      *err = Errno(("open " + log_path_).c_str());
      return false;
    }
    pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) {
      *err = Errno("fork");
      ::close(log_fd);
      return false;
    }
    if (pid_ == 0) {
      // Child: only async-signal-safe calls until exec.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
      dup2(log_fd, STDERR_FILENO);
      dup2(log_fd, STDOUT_FILENO);
      if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) _exit(126);
      }
      execv("/proc/self/exe", argv.data());
      _exit(127);
    }
    ::close(log_fd);
    return WaitListening(err);
  }

  // SIGTERM, then SIGKILL after 5 s; removes the temp dir unless kept.
  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      bool reaped = false;
      for (int i = 0; i < 500 && !reaped; ++i) {
        reaped = waitpid(pid_, &status, WNOHANG) == pid_;
        if (!reaped) usleep(10'000);
      }
      if (!reaped) {
        std::cerr << "livehub bench: hub pid " << pid_
                  << " did not exit 5 s after SIGTERM; sending SIGKILL\n";
        ::kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
    if (!dir_.empty()) {
      if (keep_dir_) {
        std::cerr << "livehub bench: hub log kept in " << log_path_ << "\n";
      } else {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
      }
      dir_.clear();
    }
  }

  // Warn/error lines of the hub log so far: their count and the first few.
  std::pair<int, std::vector<std::string>> Problems(size_t keep = 3) const {
    std::ifstream f(log_path_);
    std::string line;
    int count = 0;
    std::vector<std::string> first;
    while (std::getline(f, line)) {
      if (line.find("\"level\":\"error\"") == std::string::npos &&
          line.find("\"level\":\"warn\"") == std::string::npos) {
        continue;
      }
      ++count;
      if (first.size() < keep) first.push_back(line.substr(0, 400));
    }
    return {count, first};
  }

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& log_path() const { return log_path_; }

 private:
  bool WaitListening(std::string* err) {
    for (int waited = 0; waited < kHubStartTimeoutMs; waited += 20) {
      std::ifstream f(log_path_);
      std::string line;
      while (std::getline(f, line)) {
        if (line.find("\"msg\":\"listening\"") == std::string::npos) continue;
        size_t p = line.find("\"port\":");
        if (p != std::string::npos) port_ = static_cast<int>(ParseU64(line, p + 7));
        if (port_ > 0) return true;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *err = "the hub exited before listening (status " + std::to_string(status) +
               "); its log:\n" + Tail();
        return false;
      }
      usleep(20'000);
    }
    *err = "the hub did not log \"listening\" within " + std::to_string(kHubStartTimeoutMs) +
           " ms; its log:\n" + Tail();
    return false;
  }
  std::string Tail() const {
    std::ifstream f(log_path_);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
  }

  pid_t pid_ = -1;
  int port_ = 0;
  bool keep_dir_ = false;
  std::string dir_;
  std::string log_path_;
};

// ===========================================================================
// SubscriberLoop: N WebSocket / SSE subscribers on one epoll thread
// ===========================================================================

enum class Transport { kWs, kSse };

// Which server the tool talks to (`--peer`): livehub's own protocol, or a
// peer's, which delivers the published payload as is (raw: the per-stream
// message number "k" in the payload stands in for the seq):
//   Nchan:   POST /pub/<id>; WebSocket/EventSource on /sub/<id>.
//   Pushpin: POST /publish/ (its HTTP publish API, on its own port) with one
//            item per message; WebSocket/HTTP streaming on /sub/<id>, which
//            bench/peers/grip-backend.mjs answers with GRIP instructions.
// Set once from the command line before any loop starts.
enum class Peer { kLivehub, kNchan, kPushpin };
Peer g_peer = Peer::kLivehub;
bool RawPeer() { return g_peer != Peer::kLivehub; }

struct SubscriberStats {
  uint64_t subscribed = 0;      // connections that got their `subscribed`
  uint64_t failed = 0;          // connect / handshake failures
  uint64_t disconnected = 0;    // closed after subscribing (by the hub or an error)
  uint64_t events = 0;          // event messages received (duplicates included)
  uint64_t duplicates = 0;      // a seq that connection already had
  uint64_t reordered = 0;       // a seq below the newest but not seen yet (within 64):
                                // a peer reordering concurrent publishes
  uint64_t seq_jumps = 0;       // seq > previous + 1
  uint64_t missing = 0;         // sum of the seqs skipped by jumps (late ones included)
  uint64_t gap_messages = 0;    // `gap` messages (slow_client, evicted, ...)
  uint64_t error_messages = 0;  // `error` messages
  uint64_t other_messages = 0;  // anything else (batch, health, ...)
  uint64_t stalled = 0;         // subscribed, then never read again (--stalled)
  uint64_t pings = 0;           // WebSocket pings answered
  uint64_t bytes = 0;
  int64_t first_event_ns = 0;
  int64_t last_event_ns = 0;
  std::string first_problem;  // the first failure or surprise, for the report
  LatencyHistogram latency;   // publish t_ns -> read() return
  uint64_t unique() const { return events - duplicates; }
};

// Thread safety: not thread-safe; everything runs on the caller's thread.
class SubscriberLoop {
 public:
  SubscriberLoop(Transport transport, const sockaddr_in& hub)
      : transport_(transport), hub_(hub), buf_(kReadBufBytes) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    char host[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &hub.sin_addr, host, sizeof host);
    host_header_ = std::string(host) + ":" + std::to_string(ntohs(hub.sin_port));
    on_ws_message_ = [this](ws::Opcode op, std::string_view payload) {
      OnWsMessage(*cur_, op, payload);
    };
  }
  ~SubscriberLoop() {
    CloseAll();
    ::close(ep_);
  }
  SubscriberLoop(const SubscriberLoop&) = delete;
  SubscriberLoop& operator=(const SubscriberLoop&) = delete;

  // Opens n connections (connection j follows stream j % streams), at most
  // `pending_max` (--connect-concurrency) at a time. Returns once every connection is
  // subscribed or failed, or at the deadline (stragglers count as failed).
  // A fraction `stalled` of them, spread evenly, stop reading once
  // subscribed: the server sees a client that never drains its socket.
  // They are left out of every delivery figure.
  void Open(int n, int streams, int64_t deadline_ns, double stalled = 0,
            int pending_max = kMaxPendingHandshakes) {
    conns_.resize(n);
    int next = 0;
    while (MonoNs() < deadline_ns) {
      while (pending_ < pending_max && next < n) {
        conns_[next].stall = std::floor((next + 1) * stalled) > std::floor(next * stalled);
        Connect(next, next % streams);
        ++next;
      }
      if (next == n && pending_ == 0) return;
      Poll(50);
    }
    for (Conn& c : conns_) {
      if (c.state != State::kClosed && !c.subscribed) Fail(c, "not subscribed by the deadline");
    }
  }

  // Serves the connections until done() or the deadline.
  void RunUntil(const std::function<bool()>& done, int64_t deadline_ns) {
    while (!done() && MonoNs() < deadline_ns) Poll(20);
  }

  void CloseAll() {
    for (Conn& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
      c.fd = -1;
      c.state = State::kClosed;
    }
  }

  // Subscribed, reading connections per stream (index = stream number).
  std::vector<uint64_t> SubscribedPerStream(int streams) const {
    std::vector<uint64_t> out(streams);
    for (const Conn& c : conns_) {
      if (c.subscribed && !c.stall) ++out[c.stream];
    }
    return out;
  }

  const SubscriberStats& stats() const { return stats_; }

 private:
  enum class State : uint8_t { kIdle, kConnecting, kHandshake, kOpen, kClosed };
  enum class Chunk : uint8_t { kSize, kSizeExt, kData, kDataEnd };

  struct Conn {
    int fd = -1;
    uint32_t stream = 0;
    State state = State::kIdle;
    bool pending = false;  // counted in pending_ (connecting, not yet subscribed)
    bool subscribed = false;
    bool want_write = false;
    bool stall = false;   // --stalled: stop reading once subscribed
    bool parked = false;  // stalled now: out of the epoll set
    uint64_t last_seq = 0;
    uint64_t seen = ~uint64_t{0};  // bit i: last_seq - i arrived
    std::string out;               // bytes to write (request, pongs)
    size_t out_off = 0;
    std::string head;    // HTTP response head so far
    std::string accept;  // expected Sec-WebSocket-Accept
    std::optional<ws::FrameParser> parser;
    // SSE: chunked transfer decoding and the unfinished block.
    bool chunked = false;
    Chunk chunk = Chunk::kSize;
    uint64_t chunk_left = 0;
    std::string sse_tail;
  };

  void Connect(int index, int stream) {
    Conn& c = conns_[index];
    c.stream = static_cast<uint32_t>(stream);
    std::string err;
    c.fd = StartConnect(hub_, &err, c.stall ? kStalledRcvBuf : 0);
    if (c.fd < 0) {
      c.state = State::kClosed;
      ++stats_.failed;
      Note("connection " + std::to_string(index) + ": " + err);
      return;
    }
    c.state = State::kConnecting;
    c.pending = true;
    ++pending_;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u32 = static_cast<uint32_t>(index);
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    c.want_write = true;
  }

  void Poll(int timeout_ms) {
    epoll_event events[512];
    int n = ::epoll_wait(ep_, events, 512, timeout_ms);
    for (int i = 0; i < n; ++i) {
      Conn& c = conns_[events[i].data.u32];
      if (c.state == State::kClosed) continue;
      if (c.state == State::kConnecting) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        if (so_error != 0) {
          Fail(c, std::string("connect: ") + std::strerror(so_error));
          continue;
        }
        if (!(events[i].events & EPOLLOUT)) continue;
        c.state = State::kHandshake;
        BuildRequest(c, events[i].data.u32);
      }
      if (events[i].events & EPOLLOUT) Flush(c);
      if (c.state != State::kClosed &&
          (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR))) {
        OnReadable(c);
      }
    }
  }

  void BuildRequest(Conn& c, uint32_t index) {
    std::string target =
        RawPeer() ? "/sub/" + StreamName(static_cast<int>(c.stream))
                  : (transport_ == Transport::kWs ? "/v1/ws?streams=" : "/v1/sse?streams=") +
                        StreamName(static_cast<int>(c.stream));
    c.out = "GET " + target + " HTTP/1.1\r\nHost: " + host_header_ + "\r\n";
    if (transport_ == Transport::kWs) {
      uint8_t nonce[16];
      std::mt19937_64 rng(0x6c6976656875622bULL ^ index);
      for (auto& b : nonce) b = static_cast<uint8_t>(rng());
      std::string key = Base64(nonce, sizeof nonce);
      c.accept = ws::AcceptKey(key);
      c.out += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
               "\r\nSec-WebSocket-Version: 13\r\n\r\n";
      c.parser.emplace(ws::FrameParser::Role::kClient, 1 << 20);
    } else {
      c.out += "Accept: text/event-stream\r\n\r\n";
    }
    c.out_off = 0;
  }

  void Flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) return Lost(c, Errno("send"));
      c.out_off += static_cast<size_t>(n);
    }
    bool want = c.out_off < c.out.size();
    if (!want) {
      c.out.clear();
      c.out_off = 0;
    }
    if (want != c.want_write) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
      ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
      ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_write = want;
    }
  }

  void OnReadable(Conn& c) {
    for (int round = 0; round < 8 && c.state != State::kClosed && !c.parked; ++round) {
      ssize_t n = ::read(c.fd, buf_.data(), buf_.size());
      if (n > 0) {
        stats_.bytes += static_cast<uint64_t>(n);
        Consume(c, std::string_view(buf_.data(), static_cast<size_t>(n)), MonoNs());
        if (static_cast<size_t>(n) < buf_.size()) return;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return Lost(c, n == 0 ? "the hub closed the connection" : Errno("read"));
    }
  }

  void Consume(Conn& c, std::string_view data, int64_t now) {
    if (c.state == State::kHandshake) {
      size_t old = c.head.size();
      c.head.append(data);
      size_t end = c.head.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
      if (end == std::string::npos) {
        if (c.head.size() > kMaxHeadBytes) Fail(c, "response head over 16 KB");
        return;
      }
      end += 4;
      if (!CheckHead(c, std::string_view(c.head).substr(0, end))) return;
      data = data.substr(end - old);
      std::string().swap(c.head);
      std::string().swap(c.accept);
      c.state = State::kOpen;
      // Peers have no `subscribed` message: the open stream is the subscription.
      if (RawPeer()) OnJson(c, "{\"type\":\"subscribed\"}", now);
    }
    if (data.empty() || c.state != State::kOpen) return;
    if (transport_ == Transport::kWs) {
      cur_ = &c;
      cur_now_ = now;
      Status st = c.parser->Feed(data, on_ws_message_);
      if (!st.ok() && c.state != State::kClosed)
        Lost(c, "WebSocket protocol error: " + st.message());
    } else {
      Dechunk(c, data, now);
    }
  }

  // Checks the status line (101 / 200), the accept key, the encoding.
  bool CheckHead(Conn& c, std::string_view head) {
    int want = transport_ == Transport::kWs ? 101 : 200;
    int status = head.size() > 12 ? static_cast<int>(ParseU64(head, 9)) : 0;
    if (status != want) {
      std::string body = c.head.substr(head.size(), 300);
      Fail(c, "expected HTTP " + std::to_string(want) +
                  ", got: " + std::string(head.substr(0, head.find("\r\n"))) + " " + body);
      return false;
    }
    if (transport_ == Transport::kWs) {
      if (HeaderValue(head, "sec-websocket-accept") != c.accept) {
        Fail(c, "wrong Sec-WebSocket-Accept in the 101 response");
        return false;
      }
    } else {
      c.chunked = HeaderValue(head, "transfer-encoding").find("chunked") != std::string_view::npos;
    }
    return true;
  }

  void OnWsMessage(Conn& c, ws::Opcode op, std::string_view payload) {
    if (c.state != State::kOpen) return;
    switch (op) {
      case ws::Opcode::kText:
        return OnJson(c, payload, cur_now_);
      case ws::Opcode::kPing: {
        ++stats_.pings;
        static constexpr uint8_t kMask[4] = {0x5a, 0x17, 0xc3, 0x8e};
        c.out += ws::EncodeFrame(ws::Opcode::kPong, payload, kMask);
        return Flush(c);
      }
      case ws::Opcode::kClose: {
        unsigned code = payload.size() >= 2 ? (static_cast<uint8_t>(payload[0]) << 8) |
                                                  static_cast<uint8_t>(payload[1])
                                            : 1005;
        std::string reason(payload.size() > 2 ? payload.substr(2) : std::string_view());
        return Lost(c, "the hub sent close " + std::to_string(code) + " '" + reason + "'");
      }
      default:
        ++stats_.other_messages;
        return;
    }
  }

  // SSE: undo chunked transfer encoding, pass the body on.
  void Dechunk(Conn& c, std::string_view data, int64_t now) {
    if (!c.chunked) return SseBytes(c, data, now);
    size_t i = 0;
    while (i < data.size() && c.state == State::kOpen) {
      switch (c.chunk) {
        case Chunk::kSize:
        case Chunk::kSizeExt: {
          char ch = data[i++];
          int digit = ch >= '0' && ch <= '9'   ? ch - '0'
                      : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                      : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                               : -1;
          if (ch == '\n') {
            if (c.chunk_left == 0) return Lost(c, "the hub ended the SSE stream");
            c.chunk = Chunk::kData;
          } else if (digit >= 0 && c.chunk == Chunk::kSize) {
            c.chunk_left = c.chunk_left * 16 + static_cast<uint64_t>(digit);
            if (c.chunk_left > (uint64_t{1} << 40)) return Lost(c, "bad chunk size");
          } else {
            c.chunk = Chunk::kSizeExt;  // '\r' or a chunk extension: skip to '\n'
          }
          break;
        }
        case Chunk::kData: {
          size_t take = static_cast<size_t>(std::min<uint64_t>(c.chunk_left, data.size() - i));
          SseBytes(c, data.substr(i, take), now);
          i += take;
          c.chunk_left -= take;
          if (c.chunk_left == 0) c.chunk = Chunk::kDataEnd;
          break;
        }
        case Chunk::kDataEnd:
          if (data[i++] == '\n') c.chunk = Chunk::kSize;
          break;
      }
    }
  }

  // SSE body bytes: split into blocks at blank lines, copying only the
  // unfinished tail of a block.
  void SseBytes(Conn& c, std::string_view bytes, int64_t now) {
    if (bytes.empty()) return;
    size_t i = 0;
    if (!c.sse_tail.empty()) {
      size_t end;
      if (c.sse_tail.back() == '\n' && bytes[0] == '\n') {
        end = 1;
      } else {
        size_t p = bytes.find("\n\n");
        if (p == std::string_view::npos) {
          c.sse_tail.append(bytes);
          if (c.sse_tail.size() > kMaxSseBlockBytes) Lost(c, "SSE block over 4 MB");
          return;
        }
        end = p + 2;
      }
      c.sse_tail.append(bytes.substr(0, end));
      SseBlock(c, c.sse_tail, now);
      c.sse_tail.clear();
      i = end;
    }
    for (;;) {
      size_t p = bytes.find("\n\n", i);
      if (p == std::string_view::npos) break;
      SseBlock(c, bytes.substr(i, p - i), now);
      i = p + 2;
    }
    if (i < bytes.size()) c.sse_tail.append(bytes.substr(i));
  }

  void SseBlock(Conn& c, std::string_view block, int64_t now) {
    size_t p = block.starts_with("data:") ? 0 : block.find("\ndata:");
    if (p == std::string_view::npos) return;  // retry:, a comment, ...
    p += block[p] == '\n' ? 6 : 5;
    if (p < block.size() && block[p] == ' ') ++p;
    size_t end = block.find('\n', p);
    OnJson(c, block.substr(p, end == std::string_view::npos ? end : end - p), now);
  }

  // One hub message (the same JSON over WebSocket and SSE).
  void OnJson(Conn& c, std::string_view json, int64_t now) {
    if (c.parked) return;  // the rest of the read that subscribed it
    std::string_view type;
    if (size_t t = json.substr(0, 48).find("\"type\":\""); t != std::string_view::npos) {
      size_t b = t + 8, e = json.find('"', b);
      if (e != std::string_view::npos) type = json.substr(b, e - b);
    }
    const bool raw = RawPeer() && type != "subscribed";
    if (type == "event" || raw) {
      // livehub: the envelope's seq (before data); a peer: the payload's k.
      size_t p = json.find(raw ? "\"k\":" : "\"seq\":");
      if (p == std::string_view::npos) {
        ++stats_.other_messages;
        return;
      }
      uint64_t seq = ParseU64(json, p + (raw ? 4 : 6));
      ++stats_.events;
      if (seq > c.last_seq) {
        uint64_t step = seq - c.last_seq;
        if (step > 1) {
          ++stats_.seq_jumps;
          stats_.missing += step - 1;
        }
        c.seen = step >= 64 ? 1 : (c.seen << step) | 1;
        c.last_seq = seq;
      } else if (uint64_t back = c.last_seq - seq; back < 64 && !((c.seen >> back) & 1)) {
        // Late, not lost: a peer may reorder publishes sent concurrently
        // on different connections (livehub's seqs never are).
        c.seen |= uint64_t{1} << back;
        ++stats_.reordered;
      } else {
        ++stats_.duplicates;
      }
      if (size_t t = json.find("\"t_ns\":", raw ? 0 : p); t != std::string_view::npos) {
        stats_.latency.Record(now - static_cast<int64_t>(ParseU64(json, t + 7)));
      }
      if (stats_.first_event_ns == 0) stats_.first_event_ns = now;
      stats_.last_event_ns = now;
    } else if (type == "subscribed") {
      // With one stream per connection the first latest_seq is ours; a
      // stream that does not exist yet is delivered from seq 1.
      size_t p = json.find("\"latest_seq\":");
      c.last_seq = p == std::string_view::npos ? 0 : ParseU64(json, p + 13);
      c.seen = ~uint64_t{0};
      if (!c.subscribed) {
        c.subscribed = true;
        ++stats_.subscribed;
        if (c.pending) {
          c.pending = false;
          --pending_;
        }
        if (c.stall) {
          ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
          c.parked = true;
          ++stats_.stalled;
        }
      }
    } else if (type == "gap") {
      ++stats_.gap_messages;
      Note("gap message: " + std::string(json.substr(0, 300)));
    } else if (type == "error") {
      ++stats_.error_messages;
      Note("error message: " + std::string(json.substr(0, 300)));
    } else {
      ++stats_.other_messages;
    }
  }

  // A connection that never got subscribed.
  void Fail(Conn& c, const std::string& why) {
    if (c.state == State::kClosed) return;
    ++stats_.failed;
    Note("connection " + std::to_string(&c - conns_.data()) + ": " + why);
    Close(c);
  }

  // A connection closed: before subscribing it failed, after it was lost.
  void Lost(Conn& c, const std::string& why) {
    if (c.state == State::kClosed) return;
    if (!c.subscribed) return Fail(c, why);
    ++stats_.disconnected;
    Note("connection " + std::to_string(&c - conns_.data()) + ": " + why);
    Close(c);
  }

  void Close(Conn& c) {
    if (c.pending) {
      c.pending = false;
      --pending_;
    }
    if (c.fd >= 0) ::close(c.fd);  // also removes it from the epoll set
    c.fd = -1;
    c.state = State::kClosed;
  }

  void Note(const std::string& what) {
    if (stats_.first_problem.empty()) stats_.first_problem = what;
  }

  Transport transport_;
  sockaddr_in hub_;
  std::string host_header_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  int pending_ = 0;
  std::vector<char> buf_;
  SubscriberStats stats_;
  // The connection and read time of the current Feed(), for the callback
  // built once (no std::function per message).
  Conn* cur_ = nullptr;
  int64_t cur_now_ = 0;
  ws::FrameParser::OnMessage on_ws_message_;
};

// ===========================================================================
// Publisher: paced HTTP keep-alive publishes on a thread of its own
// ===========================================================================

struct PublisherConfig {
  sockaddr_in hub{};
  int streams = 1;
  double rate = 0;  // msgs/s in total; 0 = as fast as the connections go
  int payload = 100;
  double duration_s = 10;
  int connections = 16;  // keep-alive connections, one request in flight each
  int batch = 1;         // events per request (a JSON array when > 1)
  bool ndjson = false;   // livehub: batches as NDJSON lines, not a JSON array
  bool sse = false;      // Pushpin: publish the http-stream format, not ws-message
};

struct PublisherResult {
  std::vector<uint64_t> published;  // 200 replies per stream
  uint64_t sent = 0;
  uint64_t rejected = 0;    // non-200 replies
  uint64_t unanswered = 0;  // no reply within kReplyTimeoutNs of the last send
  int64_t start_ns = 0;
  int64_t last_send_ns = 0;
  int64_t max_lag_ns = 0;  // how far sends fell behind the schedule
  std::string first_error;
  uint64_t total() const {
    uint64_t t = 0;
    for (uint64_t p : published) t += p;
    return t;
  }
};

// Message k goes to stream k % streams at start + k / rate. Each message is
// {"t_ns":<CLOCK_MONOTONIC ns at send>,"pad":"xx..."} of ~payload bytes.
// Thread safety: Run() on one thread; done() may be read from any thread,
// result() only after done().
class Publisher {
 public:
  explicit Publisher(PublisherConfig config) : cfg_(std::move(config)) {
    result_.published.resize(cfg_.streams);
    char host[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &cfg_.hub.sin_addr, host, sizeof host);
    host_header_ = std::string(host) + ":" + std::to_string(ntohs(cfg_.hub.sin_port));
  }
  ~Publisher() {
    for (Conn& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
    if (ep_ >= 0) ::close(ep_);
  }

  // Opens the connections; false with *err if the hub cannot be reached.
  bool Connect(std::string* err) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    conns_.resize(cfg_.connections);
    for (size_t i = 0; i < conns_.size(); ++i) {
      if (!Open(i, err)) return false;
    }
    return true;
  }

  void Run() {
    const int64_t start = MonoNs();
    const int64_t end = start + static_cast<int64_t>(cfg_.duration_s * 1e9);
    const uint64_t total = cfg_.rate > 0
                               ? static_cast<uint64_t>(std::llround(cfg_.rate * cfg_.duration_s))
                               : UINT64_MAX;
    result_.start_ns = start;
    uint64_t k = 0;
    int busy = 0;
    epoll_event events[kMaxPublishers];
    for (;;) {
      int64_t now = MonoNs();
      bool sending = now < end && k < total;
      if (sending) {
        uint64_t due = cfg_.rate > 0
                           ? std::min<uint64_t>(
                                 total, static_cast<uint64_t>((now - start) * cfg_.rate / 1e9) + 1)
                           : UINT64_MAX;
        for (size_t i = 0; i < conns_.size() && k < due; ++i) {
          if (conns_[i].busy || conns_[i].fd < 0) continue;
          if (cfg_.rate > 0) {
            int64_t lag =
                now - (start + static_cast<int64_t>(static_cast<double>(k) * 1e9 / cfg_.rate));
            result_.max_lag_ns = std::max(result_.max_lag_ns, lag);
          }
          Send(i, k++);
          ++busy;
        }
      } else if (busy == 0 || now - std::max(result_.last_send_ns, end) > kReplyTimeoutNs) {
        result_.unanswered = static_cast<uint64_t>(busy);
        break;
      }
      // Sleep until the next message is due (ns precision: no busy loop
      // between sends), or, with every connection busy or nothing left to
      // send, until a reply arrives.
      int64_t timeout_ns = 10'000'000;
      if (sending && cfg_.rate > 0 && busy < static_cast<int>(conns_.size())) {
        int64_t next = start + static_cast<int64_t>(static_cast<double>(k) * 1e9 / cfg_.rate);
        timeout_ns = std::clamp<int64_t>(next - MonoNs(), 0, timeout_ns);
      }
      timespec timeout{0, static_cast<long>(timeout_ns)};
      int n = ::epoll_pwait2(ep_, events, kMaxPublishers, &timeout, nullptr);
      for (int e = 0; e < n; ++e) {
        size_t i = events[e].data.u32;
        if (events[e].events & EPOLLOUT) Flush(i);
        if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) busy -= ReadReplies(i);
      }
    }
    done_.store(true);
  }

  bool done() const { return done_.load(); }
  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
  const PublisherResult& result() const { return result_; }

 private:
  struct Conn {
    int fd = -1;
    bool busy = false;
    bool want_write = false;
    uint32_t stream = 0;
    std::string out;
    size_t out_off = 0;
    std::string in;
    std::string body;
  };

  // One message: {"k":<k>,"t_ns":<ns>,"pad":"xx..."} of about cfg_.payload
  // bytes. `escaped`: its quotes escaped, to sit inside a JSON string.
  void AppendMessage(uint64_t k, int64_t t_ns, bool escaped, std::string* out) const {
    const std::string_view q = escaped ? "\\\"" : "\"";
    char k_s[24], ns_s[24];
    int k_len = snprintf(k_s, sizeof k_s, "%llu", static_cast<unsigned long long>(k));
    int ns_len = snprintf(ns_s, sizeof ns_s, "%lld", static_cast<long long>(t_ns));
    // Padding is sized on the unescaped form, the payload as delivered:
    // {"k":  ,"t_ns":  ,"pad":"  "}
    size_t fixed = 5 + static_cast<size_t>(k_len) + 8 + static_cast<size_t>(ns_len) + 8 + 2;
    size_t pad = static_cast<size_t>(cfg_.payload) > fixed ? cfg_.payload - fixed : 0;
    out->append("{").append(q).append("k").append(q).append(":").append(k_s, k_len);
    out->append(",").append(q).append("t_ns").append(q).append(":").append(ns_s, ns_len);
    out->append(",").append(q).append("pad").append(q).append(":").append(q);
    out->append(pad, 'x').append(q).append("}");
  }

  // Pushpin's publish API: {"items":[{"channel":"<stream>","formats":
  // {"ws-message":{"content":"<message>"}}}]} (WebSocket) or
  // "http-stream" with content "data: <message>\n\n" (SSE).
  void AppendPushpinItem(uint64_t k, int64_t t_ns, uint32_t stream, std::string* out) const {
    out->append("{\"items\":[{\"channel\":\"").append(g_stream_prefix);
    out->append(std::to_string(stream));
    out->append(cfg_.sse ? "\",\"formats\":{\"http-stream\":{\"content\":\"data: "
                         : "\",\"formats\":{\"ws-message\":{\"content\":\"");
    AppendMessage(k, t_ns, true, out);
    out->append(cfg_.sse ? "\\n\\n\"}}}]}" : "\"}}}]}");
  }

  bool Open(size_t i, std::string* err) {
    Conn& c = conns_[i];
    c = Conn{};
    c.fd = StartConnect(cfg_.hub, err);
    if (c.fd >= 0 && !FinishConnect(c.fd, 5000, err)) {
      ::close(c.fd);
      c.fd = -1;
    }
    if (c.fd < 0) {
      *err = "publisher cannot connect to the hub: " + *err;
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  void Send(size_t i, uint64_t k) {
    Conn& c = conns_[i];
    c.stream = static_cast<uint32_t>(k % static_cast<uint64_t>(cfg_.streams));
    // "k": this message's number within its stream (1, 2, ...), which a
    // peer without seqs delivers as is; t_ns: send time for latency. The
    // body is built in c.body, which keeps its capacity: no allocation per
    // message once the buffers have grown.
    const uint64_t per_stream = k / static_cast<uint64_t>(cfg_.streams) + 1;
    const int64_t t_ns = MonoNs();
    c.body.clear();
    if (g_peer == Peer::kPushpin) {
      AppendPushpinItem(per_stream, t_ns, c.stream, &c.body);
    } else {
      const bool array = cfg_.batch > 1 && !cfg_.ndjson;
      if (array) c.body.push_back('[');
      for (int b = 0; b < cfg_.batch; ++b) {
        if (b) c.body.push_back(cfg_.ndjson ? '\n' : ',');
        AppendMessage(per_stream, t_ns, false, &c.body);
      }
      if (array) c.body.push_back(']');
    }
    char head[256];
    int h;
    if (g_peer == Peer::kPushpin) {
      h = snprintf(head, sizeof head,
                   "POST /publish/ HTTP/1.1\r\nHost: %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                   host_header_.c_str(), c.body.size());
    } else {
      h = snprintf(head, sizeof head,
                   "POST %s%s%u HTTP/1.1\r\nHost: %s\r\n"
                   "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                   g_peer == Peer::kNchan ? "/pub/" : "/v1/publish/", g_stream_prefix.c_str(),
                   c.stream, host_header_.c_str(),
                   cfg_.ndjson ? "application/x-ndjson" : "application/json", c.body.size());
    }
    c.out.clear();
    c.out.append(head, static_cast<size_t>(h)).append(c.body);
    c.out_off = 0;
    c.busy = true;
    ++result_.sent;
    sent_.store(result_.sent, std::memory_order_relaxed);
    result_.last_send_ns = MonoNs();
    Flush(i);
  }

  void Flush(size_t i) {
    Conn& c = conns_[i];
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) {
        Note(Errno("publish send"));
        break;  // the read side reports the closed connection
      }
      c.out_off += static_cast<size_t>(n);
    }
    bool want = c.out_off < c.out.size();
    if (want != c.want_write) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
      ev.data.u32 = static_cast<uint32_t>(i);
      ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_write = want;
    }
  }

  // Reads and counts complete replies; returns how many requests finished
  // (a closed connection finishes its request unanswered and is reopened).
  int ReadReplies(size_t i) {
    Conn& c = conns_[i];
    char buf[16 << 10];
    bool closed = false;
    for (;;) {
      ssize_t n = ::read(c.fd, buf, sizeof buf);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) Note(Errno("publish read"));
      closed = true;
      break;
    }
    int finished = 0;
    bool announced_close = false;  // "Connection: close" (Pushpin's publish API)
    size_t head_end = c.in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::string_view head(c.in.data(), head_end + 4);
      size_t body_len = ParseU64(HeaderValue(head, "content-length"), 0);
      if (c.in.size() >= head_end + 4 + body_len) {
        int status = static_cast<int>(ParseU64(head, 9));
        std::string_view conn = HeaderValue(head, "connection");
        announced_close = conn.size() == 5 && strncasecmp(conn.data(), "close", 5) == 0;
        if (status >= 200 && status < 300) {  // Nchan answers 201/202
          result_.published[c.stream] += static_cast<uint64_t>(cfg_.batch);
        } else {
          ++result_.rejected;
          Note("publish to " + StreamName(static_cast<int>(c.stream)) + ": " +
               std::string(head.substr(0, head.find("\r\n"))) + " " +
               c.in.substr(head_end + 4, std::min<size_t>(body_len, 300)));
        }
        c.in.clear();
        if (c.busy) {
          c.busy = false;
          finished = 1;
        }
      }
    }
    if (closed && !announced_close) Note("the hub closed a publish connection");
    if (closed || announced_close) {
      // The request in flight (if any) got no reply; reconnect.
      if (c.busy) {
        ++result_.rejected;
        finished = 1;
      }
      ::close(c.fd);
      std::string err;
      if (!Open(i, &err)) Note(err);
    }
    return finished;
  }

  void Note(const std::string& what) {
    if (result_.first_error.empty()) result_.first_error = what;
  }

  PublisherConfig cfg_;
  std::string host_header_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  PublisherResult result_;
  std::atomic<uint64_t> sent_{0};
  std::atomic<bool> done_{false};
};

// ===========================================================================
// Scenarios
// ===========================================================================

struct BenchConfig {
  std::string url = "http://127.0.0.1:8080";
  bool spawn = false;
  std::string transport = "ws";
  std::string peer = "livehub";
  int subscribers = 1000;
  int streams = 1;
  double rate = 0;
  int payload = 100;
  double duration_s = 10;
  double drain_s = 2;
  double connect_timeout_s = 60;
  int connect_concurrency = kMaxPendingHandshakes;
  int publishers = 16;
  int batch = 1;
  bool ndjson = false;
  double stalled = 0;  // fraction of subscribers that never read
  std::string publish_url;
  bool idle = false;
  double hold_s = 3;
  std::vector<int> hub_pids;
  int taskset_hub = -1;
  int taskset_self = -1;
  std::string hub_config;
  bool keep_hub_dir = false;
  bool json = false;
  // ramp
  std::vector<double> rates = {100, 200, 500, 1000, 2000, 5000};
  double max_p99_ms = 50;
  bool keep_going = false;  // run every step even after one fails
};

// Where the hub is and, when known, its pid (for CPU and RSS).
struct HubTarget {
  sockaddr_in addr{};
  sockaddr_in publish_addr{};  // = addr unless --publish-url (Pushpin)
  std::vector<pid_t> pids;     // all the server's processes; empty if unknown
};

struct FanoutResult {
  double offered_rate = 0;
  uint64_t subscribers = 0;  // subscribed connections (stalled ones included)
  uint64_t stalled = 0;      // of which never read (--stalled)
  uint64_t failed = 0;
  uint64_t published = 0;
  uint64_t publish_rejected = 0;
  uint64_t publish_unanswered = 0;
  double publish_rate = 0;  // achieved
  double publisher_max_lag_ms = 0;
  uint64_t expected = 0;
  SubscriberStats sub;
  uint64_t lost = 0;
  double delivered_per_s = 0;
  double connect_s = 0;
  // Publishing plus drain: the window of hub_cpu_s_per_million (all the
  // hub's CPU for all the deliveries).
  double window_s = 0;
  // Publishing only: the window of hub_cpu_pct and tool_cpu_pct (the drain
  // is mostly idle and would dilute them).
  double publish_window_s = 0;
  double hub_cpu_pct = -1;
  double hub_cpu_s_per_million = -1;
  int64_t hub_rss_kb = -1;
  // livehub only (from /metrics, over the run): events dropped for slow
  // clients with a `gap`, connections closed as slow; -1 if unknown.
  int64_t hub_slow_client_drops = -1;
  int64_t hub_slow_client_disconnects = -1;
  double tool_cpu_pct = 0;
  std::string publisher_error;
  // Near a full core the tool itself may be what limits the figures: they
  // are then a lower bound for the hub (uWebSockets' rule: the hub must be
  // the bottleneck for a benchmark to count).
  bool tool_saturated() const { return tool_cpu_pct >= 90; }
  bool pass(double max_p99_ms) const {
    return lost == 0 && sub.duplicates == 0 && failed == 0 && sub.disconnected == 0 &&
           publish_rejected == 0 && publish_unanswered == 0 &&
           sub.latency.Quantile(0.99) <= max_p99_ms * 1e6 && publish_rate >= 0.95 * offered_rate;
  }
};

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

// One request on a fresh connection (`Connection: close` in `request`);
// the whole reply (at most 4 MB, 5 s). False with *err if it cannot connect.
bool HttpExchange(const sockaddr_in& addr, const std::string& request, std::string* reply,
                  std::string* err) {
  int fd = StartConnect(addr, err);
  if (fd < 0) return false;
  bool ok = FinishConnect(fd, 5000, err);
  if (ok) {
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buf[16 << 10];
    const int64_t deadline = MonoNs() + 5'000'000'000;
    while (MonoNs() < deadline && reply->size() < (4u << 20)) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0)
        reply->append(buf, static_cast<size_t>(n));
      else if (n == 0)
        break;
      else if (errno != EAGAIN)
        break;
      else
        usleep(1000);
    }
  }
  ::close(fd);
  return ok;
}

// livehub's slow-client counters from /metrics: events dropped for slow
// clients (announced with `gap`s) and connections closed for being slow;
// {-1, -1} when unavailable (a peer, or /metrics not reachable).
std::pair<int64_t, int64_t> SlowClientCounters(const sockaddr_in& addr) {
  std::string reply, err;
  if (g_peer != Peer::kLivehub ||
      !HttpExchange(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &reply,
                    &err) ||
      reply.rfind("HTTP/1.1 200", 0) != 0) {
    return {-1, -1};
  }
  auto sum = [&reply](std::string_view prefix) {
    int64_t total = 0;
    for (size_t p = reply.find(prefix); p != std::string::npos; p = reply.find(prefix, p + 1)) {
      if (p > 0 && reply[p - 1] != '\n') continue;
      size_t eol = reply.find('\n', p);
      std::string_view line(reply.data() + p, (eol == std::string::npos ? reply.size() : eol) - p);
      if (line.find("reason=\"slow_client\"") == std::string_view::npos) continue;
      std::string value(line.substr(line.rfind(' ') + 1));
      total += static_cast<int64_t>(std::strtod(value.c_str(), nullptr));
    }
    return total;
  };
  return {sum("livehub_drops_total{"), sum("livehub_disconnects_total{")};
}

FanoutResult RunFanout(const BenchConfig& cfg, const HubTarget& hub, double rate) {
  FanoutResult r;
  r.offered_rate = rate;
  static int run_number = 0;
  g_stream_prefix =
      "bench/" + std::to_string(::getpid()) + "-" + std::to_string(++run_number) + "/s";
  SubscriberLoop loop(cfg.transport == "sse" ? Transport::kSse : Transport::kWs, hub.addr);
  int64_t t0 = MonoNs();
  loop.Open(cfg.subscribers, cfg.streams, t0 + static_cast<int64_t>(cfg.connect_timeout_s * 1e9),
            cfg.stalled, cfg.connect_concurrency);
  r.connect_s = static_cast<double>(MonoNs() - t0) / 1e9;
  r.subscribers = loop.stats().subscribed;
  r.stalled = loop.stats().stalled;
  r.failed = loop.stats().failed;
  if (r.subscribers == 0) {
    r.sub = loop.stats();
    return r;
  }
  std::vector<uint64_t> per_stream = loop.SubscribedPerStream(cfg.streams);

  PublisherConfig pc;
  pc.hub = hub.publish_addr;
  pc.sse = cfg.transport == "sse";
  pc.ndjson = cfg.ndjson;
  pc.streams = cfg.streams;
  pc.rate = rate;
  pc.payload = cfg.payload;
  pc.duration_s = cfg.duration_s;
  pc.connections = cfg.publishers;
  pc.batch = cfg.batch;
  Publisher publisher(pc);
  std::string err;
  if (!publisher.Connect(&err)) {
    r.publisher_error = err;
    r.sub = loop.stats();
    return r;
  }
  auto slow_before = SlowClientCounters(hub.addr);
  CpuSample before = CpuSample::Take(hub.pids);
  std::thread pub_thread([&publisher] { publisher.Run(); });
  // Serve subscribers while publishing (bounded: duration + reply timeout + slack).
  int64_t limit =
      before.wall_ns + static_cast<int64_t>(cfg.duration_s * 1e9) + kReplyTimeoutNs + 5'000'000'000;
  loop.RunUntil([&] { return publisher.done(); }, limit);
  pub_thread.join();
  // CPU % is over the publishing window: a drain that waits out its full
  // time for deliveries that never come (a lagging subscriber, a lossy
  // peer) would otherwise dilute it. CPU-s per million counts the drain.
  CpuSample published = CpuSample::Take(hub.pids);
  const PublisherResult& pr = publisher.result();
  for (int s = 0; s < cfg.streams; ++s) r.expected += pr.published[s] * per_stream[s];
  // Drain: at most drain_s, less if everything has arrived.
  loop.RunUntil([&] { return loop.stats().unique() >= r.expected; },
                MonoNs() + static_cast<int64_t>(cfg.drain_s * 1e9));
  CpuSample after = CpuSample::Take(hub.pids);
  r.hub_rss_kb = PidsRssKb(hub.pids);
  auto slow_after = SlowClientCounters(hub.addr);
  if (slow_before.first >= 0 && slow_after.first >= 0) {
    r.hub_slow_client_drops = slow_after.first - slow_before.first;
    r.hub_slow_client_disconnects = slow_after.second - slow_before.second;
  }
  loop.CloseAll();

  r.sub = loop.stats();
  r.published = pr.total();
  r.publish_rejected = pr.rejected;
  r.publish_unanswered = pr.unanswered;
  r.publisher_error = pr.first_error;
  double send_s = static_cast<double>(std::max<int64_t>(pr.last_send_ns - pr.start_ns, 1)) / 1e9;
  r.publish_rate = r.published / std::max(send_s, cfg.duration_s * 0.999);
  r.publisher_max_lag_ms = Ms(pr.max_lag_ns);
  r.lost = r.expected > r.sub.unique() ? r.expected - r.sub.unique() : 0;
  if (r.sub.last_event_ns > pr.start_ns) {
    // Over the publishing time at least: a short run at a low rate must not
    // count its few deliveries over the milliseconds they took.
    double span_s = static_cast<double>(r.sub.last_event_ns - pr.start_ns) / 1e9;
    r.delivered_per_s =
        static_cast<double>(r.sub.events) / std::max(span_s, cfg.duration_s * 0.999);
  }
  r.window_s = static_cast<double>(after.wall_ns - before.wall_ns) / 1e9;
  const double publish_wall_ns =
      static_cast<double>(std::max<int64_t>(published.wall_ns - before.wall_ns, 1));
  r.publish_window_s = publish_wall_ns / 1e9;
  if (before.hub_cpu_ns >= 0 && published.hub_cpu_ns >= 0 && after.hub_cpu_ns >= 0) {
    double cpu_ns = static_cast<double>(after.hub_cpu_ns - before.hub_cpu_ns);
    r.hub_cpu_pct =
        100.0 * static_cast<double>(published.hub_cpu_ns - before.hub_cpu_ns) / publish_wall_ns;
    if (r.sub.events > 0) r.hub_cpu_s_per_million = cpu_ns / 1e9 / (r.sub.events / 1e6);
  }
  r.tool_cpu_pct =
      100.0 * static_cast<double>(published.self_cpu_ns - before.self_cpu_ns) / publish_wall_ns;
  return r;
}

std::string Fixed(double v, int digits = 1) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// A JSON number with at most 3 decimals and no exponent ("10", "0.379").
void Num(JsonWriter& w, std::string_view key, double v) {
  if (!std::isfinite(v)) {
    w.Key(key).Null();
    return;
  }
  std::string s = Fixed(v, 3);
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  w.Key(key).Raw(s);
}

std::string FanoutJson(const BenchConfig& cfg, const FanoutResult& r, const char* scenario) {
  std::string out;
  JsonWriter w(&out);
  const auto& s = r.sub;
  w.BeginObject().Field("scenario", scenario).Field("peer", cfg.peer);
  w.Field("transport", cfg.transport);
  w.Field("subscribers", r.subscribers).Field("subscribers_failed", r.failed);
  w.Field("stalled", r.stalled).Field("batch", cfg.batch);
  w.Field("streams", cfg.streams).Field("payload_bytes", cfg.payload);
  Num(w, "duration_s", cfg.duration_s);
  Num(w, "offered_rate", r.offered_rate);
  w.Field("published", r.published);
  Num(w, "publish_rate", r.publish_rate);
  w.Field("publish_rejected", r.publish_rejected).Field("publish_unanswered", r.publish_unanswered);
  Num(w, "publisher_max_lag_ms", r.publisher_max_lag_ms);
  w.Field("expected", r.expected).Field("delivered", s.events).Field("lost", r.lost);
  w.Field("duplicates", s.duplicates).Field("reordered", s.reordered);
  w.Field("seq_jumps", s.seq_jumps).Field("missing", s.missing);
  w.Field("gap_messages", s.gap_messages).Field("error_messages", s.error_messages);
  w.Field("disconnected", s.disconnected);
  Num(w, "delivered_per_s", r.delivered_per_s);
  Num(w, "latency_p50_ms", Ms(s.latency.Quantile(0.50)));
  Num(w, "latency_p99_ms", Ms(s.latency.Quantile(0.99)));
  Num(w, "latency_max_ms", Ms(s.latency.max()));
  Num(w, "hub_cpu_pct", r.hub_cpu_pct);
  Num(w, "hub_cpu_s_per_million", r.hub_cpu_s_per_million);
  w.Field("hub_rss_kb", r.hub_rss_kb);
  w.Field("hub_slow_client_drops", r.hub_slow_client_drops);
  w.Field("hub_slow_client_disconnects", r.hub_slow_client_disconnects);
  Num(w, "tool_cpu_pct", r.tool_cpu_pct);
  w.Field("tool_saturated", r.tool_saturated());
  Num(w, "connect_s", r.connect_s);
  Num(w, "window_s", r.window_s);
  Num(w, "publish_window_s", r.publish_window_s);
  if (!s.first_problem.empty()) w.Field("first_problem", s.first_problem);
  if (!r.publisher_error.empty()) w.Field("publisher_error", r.publisher_error);
  w.EndObject();
  return out;
}

void PrintFanout(const BenchConfig& cfg, const FanoutResult& r) {
  const auto& s = r.sub;
  auto row = [](const std::string& k, const std::string& v) {
    std::cout << "  " << k << std::string(k.size() < 30 ? 30 - k.size() : 1, ' ') << v << "\n";
  };
  std::string na = "n/a (use --spawn or --hub-pid)";
  std::cout << "fanout over " << cfg.transport << "\n";
  row("subscribers",
      std::to_string(r.subscribers) +
          (r.failed ? " (" + std::to_string(r.failed) + " failed)" : "") +
          (r.stalled ? " (" + std::to_string(r.stalled) + " stalled: never read)" : "") +
          " (connected in " + Fixed(r.connect_s, 2) + " s)");
  row("streams", std::to_string(cfg.streams));
  row("payload", std::to_string(cfg.payload) + " B");
  row("offered rate", r.offered_rate > 0 ? Fixed(r.offered_rate, 0) + " msgs/s" : "max");
  row("published", std::to_string(r.published) + " (" + Fixed(r.publish_rate, 0) + " msgs/s, " +
                       std::to_string(r.publish_rejected) + " rejected, " +
                       std::to_string(r.publish_unanswered) + " unanswered, max lag " +
                       Fixed(r.publisher_max_lag_ms, 1) + " ms)");
  row("expected deliveries", std::to_string(r.expected));
  row("delivered", std::to_string(s.events));
  row("lost", std::to_string(r.lost));
  row("duplicates", std::to_string(s.duplicates));
  row("reordered (late, not lost)", std::to_string(s.reordered));
  row("seq jumps (missing seqs)",
      std::to_string(s.seq_jumps) + " (" + std::to_string(s.missing) + ")");
  row("gap / error messages",
      std::to_string(s.gap_messages) + " / " + std::to_string(s.error_messages));
  row("disconnected", std::to_string(s.disconnected));
  row("delivered msgs/s", Fixed(r.delivered_per_s, 0));
  row("latency p50 / p99 / max", Fixed(Ms(s.latency.Quantile(0.5)), 2) + " / " +
                                     Fixed(Ms(s.latency.Quantile(0.99)), 2) + " / " +
                                     Fixed(Ms(s.latency.max()), 2) + " ms");
  row("hub CPU", r.hub_cpu_pct >= 0
                     ? Fixed(r.hub_cpu_pct) + " % (" + Fixed(r.hub_cpu_s_per_million, 2) +
                           " CPU-s per million deliveries)"
                     : na);
  row("hub RSS", r.hub_rss_kb >= 0 ? Fixed(r.hub_rss_kb / 1024.0) + " MB" : na);
  if (r.hub_slow_client_drops >= 0) {
    row("hub slow-client drops / closes", std::to_string(r.hub_slow_client_drops) + " / " +
                                              std::to_string(r.hub_slow_client_disconnects));
  }
  row("load tool CPU", Fixed(r.tool_cpu_pct) + " %" +
                           (r.tool_saturated() ? " (saturated: figures are a lower bound for "
                                                 "the hub)"
                                               : ""));
  if (!s.first_problem.empty()) row("first problem", s.first_problem);
  if (!r.publisher_error.empty()) row("publisher error", r.publisher_error);
}

// Publishes one event so the stream exists (idle connections then attach to it).
bool PublishOne(const sockaddr_in& addr, const std::string& stream, std::string* err) {
  std::string body = "{\"bench\":\"idle\"}";
  std::string req = "POST /v1/publish/" + stream +
                    " HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    "application/json\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string reply;
  if (!HttpExchange(addr, req, &reply, err)) return false;
  if (reply.rfind("HTTP/1.1 200", 0) == 0) return true;
  *err = "publish to " + stream + " failed: " + reply.substr(0, 300);
  return false;
}

int RunIdle(const BenchConfig& cfg, const HubTarget& hub) {
  std::string err;
  // A peer's subscribe URL creates its channel; livehub's stream must exist.
  if (!RawPeer() && !PublishOne(hub.addr, StreamName(0), &err)) {
    std::cerr << "livehub bench: " << err << "\n";
    return 1;
  }
  usleep(500'000);
  int64_t rss_before = PidsRssKb(hub.pids);
  int64_t self_before = ProcRssKb(getpid());
  SubscriberLoop loop(Transport::kWs, hub.addr);
  int64_t t0 = MonoNs();
  // Every connection follows stream 0.
  loop.Open(cfg.subscribers, 1, t0 + static_cast<int64_t>(cfg.connect_timeout_s * 1e9), 0,
            cfg.connect_concurrency);
  double connect_s = static_cast<double>(MonoNs() - t0) / 1e9;
  CpuSample before = CpuSample::Take(hub.pids);
  loop.RunUntil([] { return false; }, MonoNs() + static_cast<int64_t>(cfg.hold_s * 1e9));
  CpuSample after = CpuSample::Take(hub.pids);
  int64_t rss_after = PidsRssKb(hub.pids);
  int64_t self_after = ProcRssKb(getpid());
  const SubscriberStats& s = loop.stats();
  uint64_t open = s.subscribed - s.disconnected;
  loop.CloseAll();
  double per_conn_kb = rss_before >= 0 && open > 0
                           ? static_cast<double>(rss_after - rss_before) / static_cast<double>(open)
                           : -1;
  double hub_cpu = before.hub_cpu_ns >= 0 && after.hub_cpu_ns >= 0
                       ? 100.0 * (after.hub_cpu_ns - before.hub_cpu_ns) /
                             static_cast<double>(after.wall_ns - before.wall_ns)
                       : -1;
  // After closing: how much the hub gives back.
  int64_t rss_closed = -1;
  if (!hub.pids.empty()) {
    usleep(1'000'000);
    rss_closed = PidsRssKb(hub.pids);
  }
  std::cout << "idle WebSocket connections (one stream, nothing published)\n"
            << "  connections open            " << open << " of " << cfg.subscribers
            << (s.failed ? " (" + std::to_string(s.failed) + " failed)" : "") << ", opened in "
            << Fixed(connect_s, 2) << " s, held " << Fixed(cfg.hold_s, 1) << " s\n";
  if (rss_before >= 0) {
    std::cout << "  hub RSS before / after      " << Fixed(rss_before / 1024.0) << " / "
              << Fixed(rss_after / 1024.0) << " MB (" << Fixed(rss_closed / 1024.0)
              << " MB 1 s after closing)\n"
              << "  hub RSS per connection      " << Fixed(per_conn_kb, 2) << " KB\n"
              << "  hub CPU while idle          " << Fixed(hub_cpu) << " %\n";
  } else {
    std::cout << "  hub RSS                     n/a (use --spawn or --hub-pid)\n";
  }
  std::cout << "  load tool RSS per conn      "
            << Fixed(static_cast<double>(self_after - self_before) / std::max<uint64_t>(open, 1), 2)
            << " KB\n";
  if (!s.first_problem.empty())
    std::cout << "  first problem               " << s.first_problem << "\n";
  if (cfg.json) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject().Field("scenario", "idle").Field("peer", cfg.peer);
    w.Field("connections", open);
    w.Field("failed", s.failed);
    Num(w, "connect_s", connect_s);
    Num(w, "hold_s", cfg.hold_s);
    w.Field("hub_rss_before_kb", rss_before).Field("hub_rss_after_kb", rss_after);
    w.Field("hub_rss_closed_kb", rss_closed);
    Num(w, "hub_kb_per_connection", per_conn_kb);
    Num(w, "hub_cpu_pct", hub_cpu);
    if (!s.first_problem.empty()) w.Field("first_problem", s.first_problem);
    w.EndObject();
    std::cout << out << "\n";
  }
  return open == static_cast<uint64_t>(cfg.subscribers) ? 0 : 1;
}

std::string VerdictOf(const FanoutResult& r, double max_p99_ms) {
  if (r.pass(max_p99_ms)) return "pass";
  std::string why;
  auto add = [&](const std::string& s) { why += (why.empty() ? "" : ",") + s; };
  if (r.failed) add("connect-fail");
  if (r.lost) add("loss");
  if (r.sub.duplicates) add("dup");
  if (r.sub.disconnected) add("disconnect");
  if (r.publish_rejected || r.publish_unanswered) add("publish-errors");
  if (r.sub.latency.Quantile(0.99) > max_p99_ms * 1e6) add("p99");
  if (r.publish_rate < 0.95 * r.offered_rate) add("publisher-behind");
  return "FAIL(" + why + ")";
}

int RunRamp(const BenchConfig& cfg, const HubTarget& hub) {
  std::printf(
      "ramp: %d %s subscribers, %d stream(s), %d B, %.0f s per step; stop at loss or p99 > %.0f "
      "ms\n",
      cfg.subscribers, cfg.transport.c_str(), cfg.streams, cfg.payload, cfg.duration_s,
      cfg.max_p99_ms);
  std::printf("%8s %9s %9s %10s %10s %8s %5s %11s %8s %8s %8s %6s %8s %7s %6s  %s\n", "rate",
              "published", "pub/s", "expected", "delivered", "lost", "dup", "deliv/s", "p50ms",
              "p99ms", "maxms", "hubCPU", "CPUs/M", "hubRSS", "tool%", "verdict");
  double best = 0;
  bool failed_once = false;
  bool any_tool_saturated = false;
  std::vector<std::string> json_lines;
  for (double rate : cfg.rates) {
    FanoutResult r = RunFanout(cfg, hub, rate);
    const auto& s = r.sub;
    std::string verdict = VerdictOf(r, cfg.max_p99_ms) + (r.tool_saturated() ? " *" : "");
    any_tool_saturated |= r.tool_saturated();
    std::printf(
        "%8.0f %9llu %9.0f %10llu %10llu %8llu %5llu %11.0f %8.2f %8.2f %8.2f %6.1f %8.2f %6.0fM "
        "%6.1f  %s\n",
        rate, static_cast<unsigned long long>(r.published), r.publish_rate,
        static_cast<unsigned long long>(r.expected), static_cast<unsigned long long>(s.events),
        static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(s.duplicates),
        r.delivered_per_s, Ms(s.latency.Quantile(0.5)), Ms(s.latency.Quantile(0.99)),
        Ms(s.latency.max()), r.hub_cpu_pct, r.hub_cpu_s_per_million, r.hub_rss_kb / 1024.0,
        r.tool_cpu_pct, verdict.c_str());
    if (!s.first_problem.empty())
      std::printf("         first problem: %s\n", s.first_problem.c_str());
    if (!r.publisher_error.empty())
      std::printf("         publisher: %s\n", r.publisher_error.c_str());
    std::fflush(stdout);
    if (cfg.json) json_lines.push_back(FanoutJson(cfg, r, "ramp"));
    if (!r.pass(cfg.max_p99_ms)) {
      failed_once = true;
      if (!cfg.keep_going) break;
    } else if (!failed_once) {
      best = rate;  // the highest rate below the first failing step
    }
  }
  std::printf("highest passing rate: %.0f msgs/s x %d subscribers\n", best, cfg.subscribers);
  if (any_tool_saturated) {
    std::printf(
        "* the load tool used >= 90%% of a core: that step may be limited by the tool, "
        "not the hub\n");
  }
  for (const auto& line : json_lines) std::cout << line << "\n";
  return 0;
}

// ===========================================================================
// CLI
// ===========================================================================

// http://HOST:PORT[/] with HOST a loopback address: the bench never loads
// another machine. `what` names the option in the error.
bool ParseLoopbackUrl(const std::string& text, const char* what, sockaddr_in* addr,
                      std::string* err) {
  std::string_view url = text;
  if (url.starts_with("http://")) url.remove_prefix(7);
  if (url.ends_with("/")) url.remove_suffix(1);
  size_t colon = url.rfind(':');
  std::string host(url.substr(0, colon));
  int port = colon == std::string_view::npos ? 80 : static_cast<int>(ParseU64(url, colon + 1));
  if (host == "localhost") host = "127.0.0.1";
  addr->sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &addr->sin_addr) != 1 ||
      (ntohl(addr->sin_addr.s_addr) >> 24) != 127 || port <= 0 || port > 65535) {
    *err = std::string(what) + " '" + text +
           "' must be http://127.x.x.x:PORT (the bench is loopback-only)";
    return false;
  }
  addr->sin_port = htons(static_cast<uint16_t>(port));
  return true;
}

bool ResolveHub(const BenchConfig& cfg, HubProcess* spawned, HubTarget* hub, std::string* err) {
  hub->addr.sin_family = AF_INET;
  if (cfg.spawn) {
    if (!spawned->Start(cfg.taskset_hub, cfg.hub_config, cfg.keep_hub_dir, err)) return false;
    inet_pton(AF_INET, "127.0.0.1", &hub->addr.sin_addr);
    hub->addr.sin_port = htons(static_cast<uint16_t>(spawned->port()));
    hub->publish_addr = hub->addr;
    hub->pids = {spawned->pid()};
    std::cerr << "livehub bench: spawned hub pid " << spawned->pid()
              << " on 127.0.0.1:" << spawned->port()
              << (cfg.taskset_hub >= 0 ? " pinned to CPU " + std::to_string(cfg.taskset_hub) : "")
              << "\n";
    return true;
  }
  if (!ParseLoopbackUrl(cfg.url, "--url", &hub->addr, err)) return false;
  hub->publish_addr = hub->addr;
  if (!cfg.publish_url.empty() &&
      !ParseLoopbackUrl(cfg.publish_url, "--publish-url", &hub->publish_addr, err)) {
    return false;
  }
  for (int pid : cfg.hub_pids) {
    if (pid <= 0 || ProcCpuNs(pid) < 0) {
      *err = "--hub-pid " + std::to_string(pid) + ": no such process";
      return false;
    }
    hub->pids.push_back(pid);
  }
  return true;
}

void AddCommonOptions(CLI::App* cmd, BenchConfig* cfg) {
  cmd->add_option("--url", cfg->url, "Hub base URL, loopback only (default http://127.0.0.1:8080)");
  cmd->add_flag("--spawn", cfg->spawn,
                "Start the hub (this binary's `serve` on 127.0.0.1:0 with --no-demo) and measure "
                "its CPU and RSS");
  cmd->add_option("--hub-pid,--hub-pids", cfg->hub_pids,
                  "Pid(s) of an already running server, comma-separated: its CPU and RSS are "
                  "the sums over them (a multi-process peer)")
      ->delimiter(',');
  cmd->add_option("--publish-url", cfg->publish_url,
                  "Where to publish when not --url (Pushpin's publish API port), loopback only");
  cmd->add_option("--hub-config", cfg->hub_config, "With --spawn: pass --config FILE to the hub")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--keep-hub-dir", cfg->keep_hub_dir,
                "With --spawn: keep the hub's temp dir and log");
  cmd->add_option("--taskset-hub", cfg->taskset_hub, "With --spawn: pin the hub to this CPU")
      ->check(CLI::Range(0, 1023));
  cmd->add_option("--taskset-self", cfg->taskset_self, "Pin this load tool to this CPU")
      ->check(CLI::Range(0, 1023));
  cmd->add_option("--transport", cfg->transport, "ws | sse (default ws)")
      ->check(CLI::IsMember({"ws", "sse"}));
  cmd->add_option("--subscribers", cfg->subscribers, "Subscriber connections (default 1000)")
      ->check(CLI::Range(1, kMaxSubscribers));
  cmd->add_option("--streams", cfg->streams,
                  "Streams bench/s0..; subscriber j follows stream j % S (default 1)")
      ->check(CLI::Range(1, kMaxStreams));
  cmd->add_option("--payload", cfg->payload, "Published body size in bytes (default 100)")
      ->check(CLI::Range(40, kMaxPayload));
  cmd->add_option("--duration", cfg->duration_s, "Seconds of publishing per run (default 10)")
      ->check(CLI::Range(0.1, kMaxDurationS));
  cmd->add_option("--drain", cfg->drain_s, "Seconds to wait for late deliveries (default 2)")
      ->check(CLI::Range(0.0, 60.0));
  cmd->add_option("--connect-timeout", cfg->connect_timeout_s,
                  "Seconds allowed to open and subscribe every connection (default 60)")
      ->check(CLI::Range(1.0, 600.0));
  cmd->add_option("--connect-concurrency", cfg->connect_concurrency,
                  "Subscriber handshakes in flight at once (default 256; Pushpin answers 502 "
                  "to bursts)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--publishers", cfg->publishers,
                  "Publisher keep-alive connections, one request in flight each (default 16)")
      ->check(CLI::Range(1, kMaxPublishers));
  cmd->add_option("--peer", cfg->peer,
                  "Server protocol: livehub (default), nchan or pushpin (bench/peers/ runs them)")
      ->check(CLI::IsMember({"livehub", "nchan", "pushpin"}));
  cmd->add_option("--batch", cfg->batch,
                  "Events per publish request, sent as a JSON array (default 1)")
      ->check(CLI::Range(1, 10000));
  cmd->add_flag("--ndjson", cfg->ndjson, "livehub: send batches as NDJSON lines, not a JSON array");
  cmd->add_option("--stalled", cfg->stalled,
                  "Fraction of subscribers that stop reading once subscribed (0..0.9, default 0); "
                  "left out of the delivery figures")
      ->check(CLI::Range(0.0, 0.9));
  cmd->add_flag("--json", cfg->json, "Also print one JSON line per run");
}

}  // namespace

int RunBenchMain(int argc, char** argv) {
  CLI::App app{"livehub bench: load generator for the hub's fan-out (loopback only)"};
  app.name("livehub bench");
  app.require_subcommand(1);
  BenchConfig cfg;
  auto* fanout = app.add_subcommand("fanout", "N subscribers, one publisher at a fixed rate");
  AddCommonOptions(fanout, &cfg);
  fanout->add_option("--rate", cfg.rate, "Total msgs/s over all streams; 0 = as fast as possible")
      ->check(CLI::Range(0.0, kMaxRate));
  fanout->add_flag("--idle", cfg.idle,
                   "Open N WebSocket connections on one stream, publish nothing, report hub RSS "
                   "per connection");
  fanout
      ->add_option("--hold", cfg.hold_s, "With --idle: seconds to hold the connections (default 3)")
      ->check(CLI::Range(0.0, 600.0));
  auto* ramp = app.add_subcommand("ramp", "fanout at rising rates until loss or p99 too high");
  AddCommonOptions(ramp, &cfg);
  ramp->add_option("--rates", cfg.rates,
                   "Rates to try in order (default 100,200,500,1000,2000,5000)")
      ->delimiter(',')
      ->check(CLI::Range(1.0, kMaxRate));
  ramp->add_option("--max-p99-ms", cfg.max_p99_ms, "A step fails above this p99 (default 50)");
  ramp->add_flag("--keep-going", cfg.keep_going, "Run every rate even after a step fails");
  CLI11_PARSE(app, argc, argv);
  g_peer = cfg.peer == "nchan"     ? Peer::kNchan
           : cfg.peer == "pushpin" ? Peer::kPushpin
                                   : Peer::kLivehub;
  if (RawPeer() && (cfg.spawn || cfg.batch != 1 || cfg.ndjson)) {
    std::cerr << "livehub bench: --peer " << cfg.peer
              << " needs a running server (--url, --hub-pid) and --batch 1 without --ndjson\n";
    return 2;
  }
  if (g_peer == Peer::kPushpin && cfg.publish_url.empty()) {
    std::cerr << "livehub bench: --peer pushpin needs --publish-url (its publish API, e.g. "
                 "http://127.0.0.1:5561)\n";
    return 2;
  }
  if (cfg.spawn && !cfg.publish_url.empty()) {
    std::cerr << "livehub bench: --publish-url is for a running server, not --spawn\n";
    return 2;
  }
  if (cfg.idle && cfg.stalled > 0) {
    std::cerr << "livehub bench: --stalled needs published messages; drop --idle\n";
    return 2;
  }

  if (!cfg.spawn && (cfg.taskset_hub >= 0 || !cfg.hub_config.empty() || cfg.keep_hub_dir)) {
    std::cerr << "livehub bench: --taskset-hub, --hub-config and --keep-hub-dir need --spawn\n";
    return 2;
  }
  if (cfg.idle && cfg.transport != "ws") {
    std::cerr << "livehub bench: --idle opens WebSocket connections; drop --transport sse\n";
    return 2;
  }
  // Every subscriber and publisher connection is one fd, plus a few spare.
  rlim_t fds = RaiseFdLimit();
  rlim_t needed = static_cast<rlim_t>(cfg.subscribers) + cfg.publishers + 32;
  if (needed > fds) {
    std::cerr << "livehub bench: " << cfg.subscribers << " subscribers need about " << needed
              << " file descriptors but RLIMIT_NOFILE allows " << fds
              << " (hard limit); lower --subscribers or raise the limit (ulimit -Hn, "
                 "/etc/security/limits.conf)\n";
    return 2;
  }
  if (cfg.taskset_self >= 0) {
    std::string err;
    if (!PinToCpu(0, cfg.taskset_self, &err)) {
      std::cerr << "livehub bench: --taskset-self: " << err << "\n";
      return 2;
    }
  }
  HubProcess spawned;
  HubTarget hub;
  std::string err;
  if (!ResolveHub(cfg, &spawned, &hub, &err)) {
    std::cerr << "livehub bench: " << err << "\n";
    return 1;
  }
  int rc = 0;
  if (*ramp) {
    rc = RunRamp(cfg, hub);
  } else if (cfg.idle) {
    rc = RunIdle(cfg, hub);
  } else {
    FanoutResult r = RunFanout(cfg, hub, cfg.rate);
    if (r.subscribers == 0) {
      std::cerr << "livehub bench: no subscriber could subscribe ("
                << (cfg.spawn ? "spawned hub" : cfg.url) << "): " << r.sub.first_problem << "\n";
      return 1;
    }
    PrintFanout(cfg, r);
    if (cfg.json) std::cout << FanoutJson(cfg, r, "fanout") << "\n";
    rc = r.subscribers > 0 && r.published > 0 ? 0 : 1;
  }
  if (cfg.spawn) {
    auto [count, first] = spawned.Problems();
    if (count > 0) {
      std::cerr << "livehub bench: the hub logged " << count << " warn/error line(s); first:\n";
      for (const auto& line : first) std::cerr << "  " << line << "\n";
    }
  }
  return rc;
}

}  // namespace livehub
