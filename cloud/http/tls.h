// TLS for agents that connect to the service directly: the server's certificate and key, and,
// when a client CA is given, mutual TLS: every client must present a certificate signed by that
// CA (the stores' CA), whose common name is the store it speaks for; with a CRL of that CA, a
// revoked certificate is refused in the handshake. TLS 1.2 or newer only.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "common/error.h"

namespace accrue::cloud::http {

// kInvalidArgument naming the file that cannot be read or used.
Result<std::shared_ptr<boost::asio::ssl::context>> server_tls_context(
    const std::string& cert_file, const std::string& key_file, const std::string& client_ca_file,
    const std::string& client_crl_file = "");

}  // namespace accrue::cloud::http
