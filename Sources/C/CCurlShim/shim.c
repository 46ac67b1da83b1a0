#include "CCurlShim.h"

CURLcode fb_curl_setopt_long(CURL *h, CURLoption opt, long v) { return curl_easy_setopt(h, opt, v); }
CURLcode fb_curl_setopt_ptr(CURL *h, CURLoption opt, const void *v) { return curl_easy_setopt(h, opt, v); }
CURLcode fb_curl_setopt_str(CURL *h, CURLoption opt, const char *v) { return curl_easy_setopt(h, opt, v); }
CURLcode fb_curl_setopt_off(CURL *h, CURLoption opt, curl_off_t v) { return curl_easy_setopt(h, opt, v); }
CURLcode fb_curl_getinfo_long(CURL *h, CURLINFO info, long *out) { return curl_easy_getinfo(h, info, out); }
CURLcode fb_curl_getinfo_str(CURL *h, CURLINFO info, const char **out) { return curl_easy_getinfo(h, info, out); }
CURLcode fb_curl_getinfo_off(CURL *h, CURLINFO info, curl_off_t *out) { return curl_easy_getinfo(h, info, out); }
