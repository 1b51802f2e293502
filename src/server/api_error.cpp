#include "server/api_error.h"

#include <nlohmann/json.hpp>

namespace nm::server {

std::string ApiError::to_json() const {
  using json = nlohmann::json;
  const json j = {{"error",
                   {{"message", message},
                    {"type", type},
                    {"param", param.empty() ? json(nullptr) : json(param)},
                    {"code", code.empty() ? json(nullptr) : json(code)}}}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace nm::server
