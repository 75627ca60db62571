//===- StandaloneFuzzDriver.cpp - libFuzzer-compatible driver without libFuzzer ===//
//
// Runs an LLVMFuzzerTestOneInput target when the compiler has no libFuzzer
// (the project's g++ build; also the ASan/UBSan build of build-asan/). It
// accepts the subset of libFuzzer's command line that the tests use:
//
//   TARGET [-runs=N] [-seed=S] [-max_len=L] [-dict=FILE] [-timeout=SECS]
//          [-artifact_prefix=DIR/] [-only_ascii=1] PATH...
//
// Every PATH (a file, or a directory whose files are read) is executed once.
// With -runs=N, N mutated inputs follow: each takes a random corpus entry (or
// the previous mutant, to chain mutations) and applies 1-6 mutations -- bit
// flips, random/interesting bytes, byte insertion/deletion, block duplication,
// splicing with another entry, dictionary tokens, replacing an ASCII number or
// a little-endian integer by an interesting value. There is no coverage
// feedback; the mutations are seeded (-seed, default 1) so runs repeat.
// Other -flags are ignored.
//
// A crash (sanitizer report, abort, signal, or a -timeout hang) writes the
// input to <artifact_prefix>crash-<hash> (timeout-<hash>) before dying, like
// libFuzzer.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int *argc,
                                                          char ***argv);
extern "C" __attribute__((weak)) void
__sanitizer_set_death_callback(void (*callback)(void));

// Defaults for ASan builds: an allocation over 1 GiB on a fuzz input of a few
// KiB is a bug (an allocation proportional to a lying header field), and the
// process must die on it rather than get NULL.
extern "C" __attribute__((visibility("default"), used)) const char *
__asan_default_options() {
  return "max_allocation_size_mb=1024:allocator_may_return_null=0:"
         "handle_abort=1";
}

namespace {

std::string gArtifactPrefix = "./";
const uint8_t *gCurData = nullptr;
size_t gCurSize = 0;
bool gDumped = false;

uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

/// Writes the current input to <prefix><kind>-<hash>. Async-signal-safe
/// enough for a dying process (no allocation).
void dumpCurrentInput(const char *kind) {
  if (gDumped || !gCurData)
    return;
  gDumped = true;
  char path[4096];
  uint64_t h = fnv1a(gCurData, gCurSize);
  int n = std::snprintf(path, sizeof(path), "%s%s-%016llx",
                        gArtifactPrefix.c_str(), kind,
                        static_cast<unsigned long long>(h));
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(path))
    return;
  int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return;
  size_t off = 0;
  while (off < gCurSize) {
    ssize_t w = ::write(fd, gCurData + off, gCurSize - off);
    if (w <= 0)
      break;
    off += static_cast<size_t>(w);
  }
  ::close(fd);
  const char msg[] = "==standalone-fuzz== input written to ";
  (void)!::write(2, msg, sizeof(msg) - 1);
  (void)!::write(2, path, static_cast<size_t>(n));
  (void)!::write(2, "\n", 1);
}

void onDeath() { dumpCurrentInput("crash"); }

void onSignal(int sig) {
  dumpCurrentInput(sig == SIGALRM ? "timeout" : "crash");
  if (sig == SIGALRM) {
    const char msg[] = "==standalone-fuzz== timeout\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    sig = SIGABRT;
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() { // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n ? static_cast<size_t>(next() % n) : 0; }
  bool oneIn(size_t n) { return below(n) == 0; }
};

using Bytes = std::vector<uint8_t>;

bool readFile(const std::string &path, Bytes &out) {
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    return false;
  out.clear();
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
    out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return true;
}

void collect(const std::string &path, std::vector<std::string> &files) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "standalone-fuzz: cannot stat '%s'\n", path.c_str());
    std::exit(2);
  }
  if (!S_ISDIR(st.st_mode)) {
    files.push_back(path);
    return;
  }
  DIR *d = ::opendir(path.c_str());
  if (!d)
    return;
  std::vector<std::string> names;
  while (dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..")
      continue;
    names.push_back(path + "/" + name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string &n : names) {
    struct stat s2;
    if (::stat(n.c_str(), &s2) == 0 && S_ISREG(s2.st_mode))
      files.push_back(n);
  }
}

/// libFuzzer/AFL dictionary: lines `name="value"` or `"value"` with \\, \"
/// and \xNN escapes; '#' comments.
std::vector<Bytes> readDict(const std::string &path) {
  std::vector<Bytes> dict;
  Bytes text;
  if (!readFile(path, text)) {
    std::fprintf(stderr, "standalone-fuzz: cannot read dictionary '%s'\n",
                 path.c_str());
    std::exit(2);
  }
  std::string s(text.begin(), text.end());
  size_t pos = 0;
  while (pos < s.size()) {
    size_t eol = s.find('\n', pos);
    if (eol == std::string::npos)
      eol = s.size();
    std::string line = s.substr(pos, eol - pos);
    pos = eol + 1;
    size_t q = line.find('"');
    size_t hash = line.find('#');
    if (q == std::string::npos || (hash != std::string::npos && hash < q))
      continue;
    size_t last = line.rfind('"');
    if (last <= q)
      continue;
    Bytes tok;
    for (size_t i = q + 1; i < last; ++i) {
      char c = line[i];
      if (c == '\\' && i + 1 < last) {
        char n = line[++i];
        if (n == 'x' && i + 2 < last) {
          tok.push_back(static_cast<uint8_t>(
              std::strtoul(line.substr(i + 1, 2).c_str(), nullptr, 16)));
          i += 2;
        } else {
          tok.push_back(static_cast<uint8_t>(n));
        }
      } else {
        tok.push_back(static_cast<uint8_t>(c));
      }
    }
    if (!tok.empty())
      dict.push_back(tok);
  }
  return dict;
}

const char *const kNumbers[] = {
    "0",  "1",  "-1", "2",  "3",  "7",  "8",   "255", "256", "65535", "65536",
    "2147483647",  "2147483648",  "4294967295", "4294967296",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "18446744073709551615", "18446744073709551616", "1048576", "1048577",
    "99999999999999999999999", "1e308", "1e309", "-1e308", "1.5", "-0", "0.0",
    "1e-320", "NaN", "Infinity", "-Infinity", "4096", "4097", "104857600",
    "104857601"};

const uint64_t kInts[] = {0,
                          1,
                          2,
                          7,
                          8,
                          0x7f,
                          0x80,
                          0xff,
                          0x100,
                          0x7fff,
                          0xffff,
                          0x10000,
                          0x7fffffff,
                          0x80000000,
                          0xffffffff,
                          0x100000000ull,
                          0x7fffffffffffffffull,
                          0x8000000000000000ull,
                          0xffffffffffffffffull,
                          (100ull << 20),
                          (100ull << 20) + 1};

class Mutator {
public:
  Mutator(uint64_t seed, size_t maxLen, std::vector<Bytes> dict, bool ascii)
      : rng(seed), maxLen(maxLen), dict(std::move(dict)), ascii(ascii) {}

  void mutate(Bytes &b, const std::vector<Bytes> &corpus) {
    size_t n = 1 + rng.below(6);
    for (size_t i = 0; i < n; ++i)
      mutateOnce(b, corpus);
    if (b.size() > maxLen)
      b.resize(maxLen);
    if (ascii)
      for (uint8_t &c : b)
        c &= 0x7f;
  }

  Rng rng;

private:
  uint8_t randomByte() {
    static const uint8_t kInteresting[] = {0,   1,   0x7f, 0x80, 0xff, '0',
                                           '9', '"', '{',  '}',  '[',  ']',
                                           ',', ':', '-',  '.',  'e',  ' ',
                                           '\\', '(', ')', '%', '<', '>', 'x'};
    if (rng.oneIn(2))
      return kInteresting[rng.below(sizeof(kInteresting))];
    return static_cast<uint8_t>(rng.next());
  }

  void mutateOnce(Bytes &b, const std::vector<Bytes> &corpus) {
    switch (rng.below(11)) {
    case 0: // bit flip
      if (!b.empty())
        b[rng.below(b.size())] ^= static_cast<uint8_t>(1u << rng.below(8));
      break;
    case 1: // set byte
      if (!b.empty())
        b[rng.below(b.size())] = randomByte();
      break;
    case 2: { // insert bytes
      size_t k = 1 + rng.below(rng.oneIn(4) ? 64 : 4);
      size_t at = rng.below(b.size() + 1);
      Bytes ins;
      uint8_t fill = randomByte();
      for (size_t i = 0; i < k; ++i)
        ins.push_back(rng.oneIn(2) ? fill : randomByte());
      b.insert(b.begin() + at, ins.begin(), ins.end());
      break;
    }
    case 3: { // delete range
      if (b.empty())
        break;
      size_t at = rng.below(b.size());
      size_t k = 1 + rng.below(std::min<size_t>(b.size() - at, 32));
      b.erase(b.begin() + at, b.begin() + at + k);
      break;
    }
    case 4: { // duplicate / copy a block
      if (b.empty())
        break;
      size_t from = rng.below(b.size());
      size_t k = 1 + rng.below(std::min<size_t>(b.size() - from, 128));
      Bytes blk(b.begin() + from, b.begin() + from + k);
      size_t at = rng.below(b.size() + 1);
      if (rng.oneIn(2)) {
        b.insert(b.begin() + at, blk.begin(), blk.end());
      } else {
        for (size_t i = 0; i < k && at + i < b.size(); ++i)
          b[at + i] = blk[i];
      }
      break;
    }
    case 5: { // splice with another corpus entry
      if (corpus.empty())
        break;
      const Bytes &o = corpus[rng.below(corpus.size())];
      size_t cut = rng.below(b.size() + 1);
      size_t ocut = rng.below(o.size() + 1);
      b.resize(cut);
      b.insert(b.end(), o.begin() + ocut, o.end());
      break;
    }
    case 6:
    case 7: { // dictionary token (insert or overwrite)
      if (dict.empty())
        break;
      const Bytes &t = dict[rng.below(dict.size())];
      size_t at = rng.below(b.size() + 1);
      if (rng.oneIn(2)) {
        b.insert(b.begin() + at, t.begin(), t.end());
      } else {
        for (size_t i = 0; i < t.size(); ++i) {
          if (at + i < b.size())
            b[at + i] = t[i];
          else
            b.push_back(t[i]);
        }
      }
      break;
    }
    case 8: { // replace an ASCII number
      std::vector<size_t> starts;
      for (size_t i = 0; i < b.size(); ++i)
        if ((b[i] >= '0' && b[i] <= '9') && (i == 0 || !(b[i - 1] >= '0' &&
                                                          b[i - 1] <= '9')))
          starts.push_back(i);
      if (starts.empty())
        break;
      size_t s = starts[rng.below(starts.size())];
      size_t e = s;
      while (e < b.size() && ((b[e] >= '0' && b[e] <= '9') || b[e] == '.' ||
                              b[e] == 'e' || b[e] == '-' || b[e] == '+'))
        ++e;
      std::string num;
      if (rng.oneIn(3)) {
        num = std::to_string(static_cast<int64_t>(rng.next() >> rng.below(64)));
      } else {
        num = kNumbers[rng.below(sizeof(kNumbers) / sizeof(kNumbers[0]))];
      }
      b.erase(b.begin() + s, b.begin() + e);
      b.insert(b.begin() + s, num.begin(), num.end());
      break;
    }
    case 9: { // overwrite a little-endian integer
      if (b.empty())
        break;
      size_t width = size_t(1) << rng.below(4); // 1, 2, 4, 8
      uint64_t v = kInts[rng.below(sizeof(kInts) / sizeof(kInts[0]))];
      if (rng.oneIn(4))
        v += rng.below(17) - 8;
      size_t at = rng.oneIn(3) ? 0 : rng.below(b.size());
      for (size_t i = 0; i < width; ++i) {
        uint8_t byte = static_cast<uint8_t>(v >> (8 * i));
        if (at + i < b.size())
          b[at + i] = byte;
      }
      break;
    }
    case 10: // truncate
      if (!b.empty())
        b.resize(rng.below(b.size()));
      break;
    }
  }

  size_t maxLen;
  std::vector<Bytes> dict;
  bool ascii;
};

void runOne(const Bytes &b, unsigned timeoutSecs) {
  // The target sees a heap copy of exactly b.size() bytes, so ASan flags
  // reads past the end.
  uint8_t *copy = static_cast<uint8_t *>(std::malloc(b.empty() ? 1 : b.size()));
  if (!b.empty())
    std::memcpy(copy, b.data(), b.size());
  gCurData = copy;
  gCurSize = b.size();
  if (timeoutSecs)
    ::alarm(timeoutSecs);
  LLVMFuzzerTestOneInput(copy, b.size());
  if (timeoutSecs)
    ::alarm(0);
  gCurData = nullptr;
  std::free(copy);
}

bool startsWith(const char *s, const char *p, const char **rest) {
  size_t n = std::strlen(p);
  if (std::strncmp(s, p, n) != 0)
    return false;
  *rest = s + n;
  return true;
}

} // namespace

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  long long runs = -1;
  uint64_t seed = 1;
  size_t maxLen = 0;
  unsigned timeoutSecs = 20;
  bool ascii = false;
  std::string dictPath;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i], *v;
    if (startsWith(a, "-runs=", &v))
      runs = std::atoll(v);
    else if (startsWith(a, "-seed=", &v))
      seed = std::strtoull(v, nullptr, 10);
    else if (startsWith(a, "-max_len=", &v))
      maxLen = std::strtoull(v, nullptr, 10);
    else if (startsWith(a, "-dict=", &v))
      dictPath = v;
    else if (startsWith(a, "-timeout=", &v))
      timeoutSecs = static_cast<unsigned>(std::atoi(v));
    else if (startsWith(a, "-artifact_prefix=", &v))
      gArtifactPrefix = v;
    else if (startsWith(a, "-only_ascii=", &v))
      ascii = std::atoi(v) != 0;
    else if (a[0] == '-')
      continue; // other libFuzzer flags are accepted and ignored
    else
      paths.push_back(a);
  }

  // Under a sanitizer its own handlers report crashes (with a stack) and then
  // call the death callback; otherwise catch the fatal signals here.
  if (__sanitizer_set_death_callback)
    __sanitizer_set_death_callback(onDeath);
  else
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT})
      std::signal(sig, onSignal);
  std::signal(SIGALRM, onSignal);

  std::vector<std::string> files;
  for (const std::string &p : paths)
    collect(p, files);
  std::vector<Bytes> corpus;
  size_t largest = 0;
  for (const std::string &f : files) {
    Bytes b;
    if (!readFile(f, b)) {
      std::fprintf(stderr, "standalone-fuzz: cannot read '%s'\n", f.c_str());
      return 2;
    }
    runOne(b, timeoutSecs);
    largest = std::max(largest, b.size());
    corpus.push_back(std::move(b));
  }
  std::fprintf(stderr, "standalone-fuzz: executed %zu inputs\n", files.size());
  if (runs <= 0)
    return 0;

  if (!maxLen)
    maxLen = std::max<size_t>(4096, largest);
  std::vector<Bytes> dict;
  if (!dictPath.empty())
    dict = readDict(dictPath);
  if (corpus.empty())
    corpus.push_back(Bytes());
  Mutator mut(seed, maxLen, dict, ascii);
  Bytes cur;
  for (long long i = 0; i < runs; ++i) {
    if (i % 8 == 0 || mut.rng.oneIn(2))
      cur = corpus[mut.rng.below(corpus.size())];
    mut.mutate(cur, corpus);
    runOne(cur, timeoutSecs);
  }
  std::fprintf(stderr,
               "standalone-fuzz: Done %lld mutated runs (seed %llu, max_len "
               "%zu, %zu dictionary tokens); no crash\n",
               runs, static_cast<unsigned long long>(seed), maxLen,
               dict.size());
  return 0;
}
