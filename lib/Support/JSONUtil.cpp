//===- JSONUtil.cpp - limits on JSON read by mhmoe ------------------------===//
#include "mhmoe/Support/JSONUtil.h"
#include "JSONReading.h"

#include <cmath>
#include <limits>

mhmoe::Status mhmoe::checkJSONNesting(std::string_view text, unsigned maxDepth,
                                      const std::string &file) {
  unsigned depth = 0;
  bool inString = false;
  for (size_t i = 0, n = text.size(); i < n; ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i; // the escaped character cannot end the string
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > maxDepth)
        return Status::error(file + ": JSON is nested more than " +
                             std::to_string(maxDepth) + " levels deep");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return Status::success();
}

namespace mhmoe::json {

namespace {

/// nlohmann's DOM builder that also remembers the last object key, so that
/// an error (e.g. 1e400, out of double range) can name the field it is in,
/// and that reports errors as a message instead of an exception.
class KeyTrackingParser : public nlohmann::detail::json_sax_dom_parser<Value> {
public:
  explicit KeyTrackingParser(Value &root)
      : json_sax_dom_parser(root, /*allow_exceptions=*/false) {}

  bool key(Value::string_t &k) {
    lastKey = k;
    return json_sax_dom_parser::key(k);
  }

  template <class Exception>
  bool parse_error(std::size_t, const std::string &, const Exception &ex) {
    // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
    std::string msg = ex.what();
    if (!msg.empty() && msg[0] == '[' && msg.find("] ") != std::string::npos)
      msg = msg.substr(msg.find("] ") + 2);
    if (!lastKey.empty())
      msg += " (in the value of '" + lastKey + "')";
    error = std::move(msg);
    return false;
  }

  std::string error;

private:
  std::string lastKey;
};

} // namespace

Result<Value> parse(std::string_view text, const std::string &what) {
  // No exception leaves this library: callers are built without them.
  try {
    Value root;
    KeyTrackingParser parser(root);
    if (!Value::sax_parse(text.begin(), text.end(), &parser) ||
        !parser.error.empty())
      return Status::error(what + ": " +
                           (parser.error.empty() ? "syntax error"
                                                 : parser.error));
    return root;
  } catch (const std::exception &e) {
    return Status::error(what + ": " + e.what());
  }
}

std::optional<int64_t> getInt64(const Value &v) {
  if (v.is_number_integer() && !v.is_number_unsigned())
    return v.get<int64_t>();
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max()))
      return std::nullopt;
    return int64_t(u);
  }
  if (!v.is_number_float())
    return std::nullopt;
  // An integral double in range counts (4.0 reads as 4, as llvm::json did).
  double d = v.get<double>();
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
      std::trunc(d) != d)
    return std::nullopt;
  return int64_t(d);
}

const char *kindName(const Value &v) {
  switch (v.type()) {
  case Value::value_t::null:
    return "null";
  case Value::value_t::boolean:
    return "a boolean";
  case Value::value_t::number_integer:
  case Value::value_t::number_unsigned:
  case Value::value_t::number_float:
    return "a number";
  case Value::value_t::string:
    return "a string";
  case Value::value_t::array:
    return "an array";
  case Value::value_t::object:
    return "an object";
  default:
    return "a value";
  }
}

std::string render(const Value &v, size_t maxChars) {
  std::string s =
      v.dump(-1, ' ', false, Value::error_handler_t::replace);
  if (s.size() > maxChars)
    s = s.substr(0, maxChars - 3) + "...";
  return s;
}

const Value *get(const Value &object, const char *key) {
  if (!object.is_object())
    return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

} // namespace mhmoe::json
