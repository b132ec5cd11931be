// A plain HTTP/1.0 GET over loopback, for tests that scrape a service's metrics endpoint:
// a socket, one request, the whole response until the server closes.
#ifndef KOPPEL_TESTS_TESTING_HTTP_GET_H_
#define KOPPEL_TESTS_TESTING_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"

namespace koppel::test {

struct HttpResponse {
  int status = 0;    // 200
  std::string body;  // after the blank line that ends the headers
  std::string headers;
};

// GET `path` from 127.0.0.1:`port`.
absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
absl::StatusOr<int> FreeLoopbackPort();

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_HTTP_GET_H_
