// multipart/form-data state machine: preamble -> (boundary -> headers -> body)* -> epilogue.
#include "protocol/multipart.h"

#include <algorithm>
#include <cctype>

namespace sbx::protocol {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view TrimWs(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits "a; b=c; d=\"e;f\"" into parameters, honouring quoted strings. Returns
// lower-cased keys with unquoted values; the first element is the bare value.
std::vector<std::pair<std::string, std::string>> SplitParams(std::string_view v) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 0;
  bool first = true;
  while (i <= v.size()) {
    std::string key, value;
    bool in_value = first;
    bool quoted = false;
    while (i < v.size()) {
      char c = v[i];
      if (quoted) {
        if (c == '\\' && i + 1 < v.size()) {
          value.push_back(v[++i]);
        } else if (c == '"') {
          quoted = false;
        } else {
          value.push_back(c);
        }
      } else if (c == ';') {
        break;
      } else if (c == '=' && !in_value) {
        in_value = true;
      } else if (c == '"' && in_value) {
        quoted = true;
      } else {
        (in_value ? value : key).push_back(c);
      }
      ++i;
    }
    if (first) {
      out.emplace_back("", std::string(TrimWs(value)));
    } else {
      out.emplace_back(Lower(TrimWs(key)), quoted ? value : std::string(TrimWs(value)));
    }
    first = false;
    ++i;
  }
  return out;
}

// undici / WHATWG form-data escapes \n, \r and " in names as %0A, %0D and %22.
std::string UnescapeFormName(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      std::string code = Lower(s.substr(i + 1, 2));
      if (code == "0a") { out.push_back('\n'); i += 2; continue; }
      if (code == "0d") { out.push_back('\r'); i += 2; continue; }
      if (code == "22") { out.push_back('"'); i += 2; continue; }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  auto params = SplitParams(content_type);
  if (params.empty() || Lower(params[0].second) != "multipart/form-data") {
    return MakeError(ErrorCode::kInvalidArgument, "content type is not multipart/form-data");
  }
  for (const auto& [k, v] : params) {
    if (k == "boundary") {
      if (v.empty() || v.size() > 200) {
        return MakeError(ErrorCode::kInvalidArgument, "bad multipart boundary length");
      }
      return v;
    }
  }
  return MakeError(ErrorCode::kInvalidArgument, "multipart content type has no boundary");
}

MultipartParser::MultipartParser(std::string boundary, MultipartCallbacks callbacks,
                                 MultipartLimits limits)
    : delimiter_("\r\n--" + boundary), cb_(std::move(callbacks)), limits_(limits) {
  buf_ = "\r\n";  // lets the first boundary, at the very start, match the delimiter
}

Result<void> MultipartParser::Fail(Error e) {
  state_ = State::kFailed;
  buf_.clear();
  return e;
}

Result<void> MultipartParser::Feed(std::string_view data) {
  if (state_ == State::kFailed) return MakeError(ErrorCode::kInvalidArgument, "multipart failed");
  if (state_ == State::kEpilogue) return Ok();
  buf_.append(data);
  return Run();
}

Result<void> MultipartParser::Run() {
  size_t pos = 0;
  auto consumed = [&] {
    buf_.erase(0, pos);
    pos = 0;
  };
  while (true) {
    std::string_view rest(buf_.data() + pos, buf_.size() - pos);
    switch (state_) {
      case State::kPreamble: {
        size_t at = rest.find(delimiter_);
        if (at == std::string_view::npos) {
          // Keep only what could still start a delimiter.
          // The preamble is discarded, so memory stays bounded.
          if (rest.size() >= delimiter_.size()) pos += rest.size() - delimiter_.size() + 1;
          consumed();
          return Ok();
        }
        pos += at + delimiter_.size();
        state_ = State::kAfterBoundary;
        break;
      }
      case State::kAfterBoundary: {
        if (rest.size() < 2) {
          consumed();
          return Ok();
        }
        if (rest.substr(0, 2) == "--") {
          state_ = State::kEpilogue;
          buf_.clear();
          return Ok();
        }
        size_t i = 0;
        while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t')) ++i;
        if (i + 2 > rest.size()) {
          if (i > 256) return Fail(MakeError(ErrorCode::kInvalidArgument, "bad boundary line"));
          consumed();
          return Ok();
        }
        if (rest.substr(i, 2) != "\r\n") {
          return Fail(MakeError(ErrorCode::kInvalidArgument, "malformed multipart boundary line"));
        }
        pos += i + 2;
        if (++parts_ > limits_.max_parts) {
          return Fail(MakeError(ErrorCode::kResourceExhausted, "too many multipart parts"));
        }
        state_ = State::kHeaders;
        break;
      }
      case State::kHeaders: {
        size_t end;
        size_t skip;
        if (rest.substr(0, 2) == "\r\n") {
          end = 0;
          skip = 2;
        } else {
          end = rest.find("\r\n\r\n");
          skip = 4;
        }
        if (end == std::string_view::npos || rest.size() < 2) {
          if (rest.size() > limits_.max_header_bytes) {
            return Fail(MakeError(ErrorCode::kResourceExhausted, "multipart headers too large"));
          }
          consumed();
          return Ok();
        }
        if (end > limits_.max_header_bytes) {
          return Fail(MakeError(ErrorCode::kResourceExhausted, "multipart headers too large"));
        }
        auto r = ParseHeaders(rest.substr(0, end));
        if (!r.ok()) return Fail(std::move(r).error());
        pos += end + skip;
        state_ = State::kBody;
        break;
      }
      case State::kBody: {
        size_t at = rest.find(delimiter_);
        size_t emit = at;
        if (at == std::string_view::npos) {
          emit = rest.size() >= delimiter_.size() ? rest.size() - delimiter_.size() + 1 : 0;
          // Only hold back a tail that could be the start of the delimiter.
          size_t cr = rest.find('\r', emit);
          emit = cr == std::string_view::npos ? rest.size() : cr;
        }
        if (emit > 0 && cb_.on_part_data) {
          auto r = cb_.on_part_data(rest.substr(0, emit));
          if (!r.ok()) return Fail(std::move(r).error());
        }
        pos += emit;
        if (at == std::string_view::npos) {
          consumed();
          return Ok();
        }
        pos += delimiter_.size();
        if (cb_.on_part_end) {
          auto r = cb_.on_part_end();
          if (!r.ok()) return Fail(std::move(r).error());
        }
        state_ = State::kAfterBoundary;
        break;
      }
      case State::kEpilogue:
        buf_.clear();
        return Ok();
      case State::kFailed:
        return MakeError(ErrorCode::kInvalidArgument, "multipart failed");
    }
  }
}

Result<void> MultipartParser::ParseHeaders(std::string_view block) {
  PartHeaders h;
  bool has_disposition = false;
  while (!block.empty()) {
    size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return MakeError(ErrorCode::kInvalidArgument, "malformed multipart header line");
    }
    const std::string name = Lower(TrimWs(line.substr(0, colon)));
    const std::string_view value = TrimWs(line.substr(colon + 1));
    if (name == "content-disposition") {
      auto params = SplitParams(value);
      if (params.empty() || Lower(params[0].second) != "form-data") {
        return MakeError(ErrorCode::kInvalidArgument, "part is not form-data");
      }
      has_disposition = true;
      for (const auto& [k, v] : params) {
        if (k == "name") h.name = UnescapeFormName(v);
        if (k == "filename") h.filename = UnescapeFormName(v);
      }
    } else if (name == "content-type") {
      h.content_type = std::string(value);
    }
  }
  if (!has_disposition) {
    return MakeError(ErrorCode::kInvalidArgument, "multipart part lacks Content-Disposition");
  }
  if (cb_.on_part_begin) return cb_.on_part_begin(h);
  return Ok();
}

Result<void> MultipartParser::Finish() {
  if (state_ == State::kEpilogue) return Ok();
  state_ = State::kFailed;
  return MakeError(ErrorCode::kInvalidArgument, "multipart body ended before closing boundary");
}

}  // namespace sbx::protocol
