package gmtls
