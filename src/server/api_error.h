// ApiError: an error as the OpenAI API reports it — an HTTP status and a JSON body
// {"error": {"message", "type", "param", "code"}} — and Expected<T>, a value or such an
// error, which the request parser and the handlers return (the server uses only the
// public C API, so not the library's Status/Result).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace nm::server {

struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the request field at fault, or empty
  std::string code;   // a machine-readable code, or empty

  std::string to_json() const;
};

inline ApiError bad_request(std::string message, std::string param = {}) {
  return {400, std::move(message), "invalid_request_error", std::move(param), {}};
}

template <class T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(ApiError e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace nm::server
