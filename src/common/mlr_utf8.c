#include "common/mlr_utf8.h"

size_t mlr_utf8_seq_len(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 1;
}

size_t mlr_utf8_decode(const char *s, size_t n, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  size_t k = mlr_utf8_seq_len(u[0]);
  if (k == 1 || k > n) {
    *cp = u[0] < 0x80 ? u[0] : 0xFFFD;
    return 1;
  }
  uint32_t v = u[0] & (0x7Fu >> k);
  for (size_t i = 1; i < k; i++) {
    if ((u[i] & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    v = (v << 6) | (u[i] & 0x3Fu);
  }
  *cp = v;
  return k;
}

size_t mlr_codepoint_width(uint32_t c) {
  if ((c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
      (c >= 0x200B && c <= 0x200F) || (c >= 0x20D0 && c <= 0x20FF) ||
      (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF)
    return 0;
  if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) ||
      (c >= 0x3041 && c <= 0x33FF) || (c >= 0x3400 && c <= 0x4DBF) ||
      (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
      (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
      (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
      (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
      (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD))
    return 2;
  return 1;
}

size_t mlr_utf8_width(const char *s, size_t n) {
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += mlr_utf8_decode(s + i, n - i, &cp);
    w += mlr_codepoint_width(cp);
  }
  return w;
}
