// curl_easy_setopt/getinfo are variadic: Swift cannot call them. One typed wrapper per
// argument kind, plus typed setters for the callbacks (function pointers must not travel
// through a `void *` in portable C).
#pragma once
#include <curl/curl.h>

CURLcode fb_curl_setopt_long(CURL *h, CURLoption opt, long v);
CURLcode fb_curl_setopt_ptr(CURL *h, CURLoption opt, const void *v);
CURLcode fb_curl_setopt_str(CURL *h, CURLoption opt, const char *v);
CURLcode fb_curl_setopt_off(CURL *h, CURLoption opt, curl_off_t v);
CURLcode fb_curl_getinfo_long(CURL *h, CURLINFO info, long *out);
CURLcode fb_curl_getinfo_str(CURL *h, CURLINFO info, const char **out);
CURLcode fb_curl_getinfo_off(CURL *h, CURLINFO info, curl_off_t *out);

typedef size_t (*fb_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
typedef int (*fb_curl_xferinfo_cb)(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                                   curl_off_t ultotal, curl_off_t ulnow);

/// Body bytes (CURLOPT_WRITEFUNCTION + CURLOPT_WRITEDATA).
CURLcode fb_curl_set_write_callback(CURL *h, fb_curl_data_cb cb, void *userdata);
/// Header lines, one call per line (CURLOPT_HEADERFUNCTION + CURLOPT_HEADERDATA).
CURLcode fb_curl_set_header_callback(CURL *h, fb_curl_data_cb cb, void *userdata);
/// Transfer progress; returning non-zero aborts (CURLOPT_XFERINFOFUNCTION, NOPROGRESS=0).
CURLcode fb_curl_set_xferinfo_callback(CURL *h, fb_curl_xferinfo_cb cb, void *userdata);
/// The CURL_WRITEFUNC_PAUSE-free "abort" value a write callback returns to stop a transfer.
size_t fb_curl_write_abort(void);
