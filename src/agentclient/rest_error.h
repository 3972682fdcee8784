// Internal to agentclient: the Error for an agent's non-2xx REST answer (/files, /health,
// CONNECT), from its status and its {"code":<int>,"message"} body (or any body).
#pragma once

#include <string>

#include "common/result.h"

namespace sbx::agentclient {

// 400 kInvalidArgument, 401 kUnauthenticated, 403, 404, 409, 413/507 kResourceExhausted,
// 502/503 kUnavailable, else kInternal; the message is the body's "message" when it has one.
Error RestError(unsigned status, const std::string& body);

}  // namespace sbx::agentclient
