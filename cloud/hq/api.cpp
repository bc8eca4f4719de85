#include "cloud/hq/api.h"

#include "common/sys/system.h"

namespace accrue::cloud::hq {

Result<std::unique_ptr<HqApi>> HqApi::create(HqDeps deps) {
  std::unique_ptr<HqApi> api(new HqApi(deps));
  if (!deps.config.identifier_key_file.empty()) {
    ACCRUE_ASSIGN_OR_RETURN(
        auto key, read_key_file(deps.config.identifier_key_file, "auth.identifier_key_file"));
    ACCRUE_ASSIGN_OR_RETURN(auto h, IdentifierHasher::create(key));
    api->shared_.hasher.emplace(std::move(h));
  }
  return api;
}

HqApi::HqApi(HqDeps deps)
    : shared_(deps),
      gate_(shared_.d),
      customers_(shared_),
      points_(shared_),
      privacy_(shared_),
      stores_(shared_),
      returns_(shared_),
      orders_(shared_),
      overdrafts_(shared_),
      rewards_(shared_),
      programs_(shared_),
      segments_(shared_, customers_),
      webhooks_(shared_),
      jobs_(shared_),
      audit_(shared_),
      members_(shared_, customers_, rewards_) {}

void HqApi::add_routes(http::Router& r) {
  r.add(http::bhttp::verb::get, "/v1/openapi.yaml", "openapi",
        [](const http::Request& req, http::RequestContext&) {
          return http::bytes(req, std::string(openapi_document()), "application/yaml");
        });
  customers_.add_routes(gate_, r);
  points_.add_routes(gate_, r);
  privacy_.add_routes(gate_, r);
  stores_.add_routes(gate_, r);
  returns_.add_routes(gate_, r);
  orders_.add_routes(gate_, r);
  overdrafts_.add_routes(gate_, r);
  rewards_.add_routes(gate_, r);
  programs_.add_routes(gate_, r);
  segments_.add_routes(gate_, r);
  webhooks_.add_routes(gate_, r);
  jobs_.add_routes(gate_, r);
  audit_.add_routes(gate_, r);
  members_.add_routes(gate_, r);
}

}  // namespace accrue::cloud::hq
