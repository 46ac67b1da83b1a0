/// HTTP over libcurl: requests, streaming downloads, Unix-socket REST (Firecracker API).
