// Boost.URL's compiled part (percent-decoding's checks): Debian 12 ships the library as headers
// only, and Boost.URL is built into exactly one translation unit this way.
#include <boost/url/src.hpp>
