// curl_easy_setopt/getinfo are variadic: Swift cannot call them. One typed wrapper per
// argument kind.
#pragma once
#include <curl/curl.h>

CURLcode fb_curl_setopt_long(CURL *h, CURLoption opt, long v);
CURLcode fb_curl_setopt_ptr(CURL *h, CURLoption opt, const void *v);
CURLcode fb_curl_setopt_str(CURL *h, CURLoption opt, const char *v);
CURLcode fb_curl_setopt_off(CURL *h, CURLoption opt, curl_off_t v);
CURLcode fb_curl_getinfo_long(CURL *h, CURLINFO info, long *out);
CURLcode fb_curl_getinfo_str(CURL *h, CURLINFO info, const char **out);
CURLcode fb_curl_getinfo_off(CURL *h, CURLINFO info, curl_off_t *out);
