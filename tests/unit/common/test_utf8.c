/* mlr_utf8: code points and their terminal columns. */
#include "common/mlr_utf8.h"
#include "mtest.h"

#include <string.h>

static void test_decode(void) {
  uint32_t cp = 0;
  CHECK(mlr_utf8_decode("A", 1, &cp) == 1 && cp == 'A');
  CHECK(mlr_utf8_decode("\xc3\xa9", 2, &cp) == 2 && cp == 0xE9);
  CHECK(mlr_utf8_decode("\xe6\xbc\xa2", 3, &cp) == 3 && cp == 0x6F22);
  CHECK(mlr_utf8_decode("\xf0\x9f\xa6\x86", 4, &cp) == 4 && cp == 0x1F986);
  /* Invalid: one byte, U+FFFD. */
  CHECK(mlr_utf8_decode("\xe6\xbc", 2, &cp) == 1 && cp == 0xFFFD); /* cut short by n */
  CHECK(mlr_utf8_decode("\xe6"
                        "A",
                        2, &cp) == 1 &&
        cp == 0xFFFD);                                             /* not a continuation */
  CHECK(mlr_utf8_decode("\x80", 1, &cp) == 1 && cp == 0xFFFD);     /* a stray continuation */
  CHECK(mlr_utf8_decode("\xc0\x80", 2, &cp) == 1 && cp == 0xFFFD); /* overlong lead */
  CHECK(mlr_utf8_decode("\xf5\x80\x80\x80", 4, &cp) == 1 && cp == 0xFFFD); /* past U+10FFFF */
  CHECK(mlr_utf8_decode("\xed\xa0\x80", 3, &cp) == 1 && cp == 0xFFFD);     /* a surrogate */
  CHECK(mlr_utf8_decode("\xe0\x80\xbb", 3, &cp) == 1 && cp == 0xFFFD);     /* overlong ';' */
  CHECK(mlr_utf8_decode("\xf0\x80\x80\xbb", 4, &cp) == 1 && cp == 0xFFFD);
  CHECK(mlr_utf8_decode("\xf4\x90\x80\x80", 4, &cp) == 1 && cp == 0xFFFD); /* > U+10FFFF */
  CHECK(mlr_utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp) == 4 && cp == 0x10FFFF);
  CHECK(mlr_utf8_decode("\xed\x9f\xbf", 3, &cp) == 3 && cp == 0xD7FF);
  CHECK(mlr_utf8_seq_len('a') == 1 && mlr_utf8_seq_len(0xC3) == 2);
  CHECK(mlr_utf8_seq_len(0xE6) == 3 && mlr_utf8_seq_len(0xF0) == 4 && mlr_utf8_seq_len(0xBF) == 1);
}

static void test_width(void) {
  CHECK(mlr_codepoint_width('a') == 1);
  CHECK(mlr_codepoint_width(0x0301) == 0);  /* combining acute */
  CHECK(mlr_codepoint_width(0x200D) == 0);  /* zero-width joiner */
  CHECK(mlr_codepoint_width(0x6F22) == 2);  /* CJK */
  CHECK(mlr_codepoint_width(0xAC00) == 2);  /* Hangul */
  CHECK(mlr_codepoint_width(0x1F986) == 2); /* emoji */
  CHECK(mlr_codepoint_width(0x1F680) == 2); /* rocket */
  CHECK(mlr_codepoint_width(0x2705) == 2);  /* check mark button */
  CHECK(mlr_codepoint_width(0x231A) == 2);  /* watch */
  CHECK(mlr_codepoint_width(0x0E34) == 0);  /* Thai vowel sign */
  CHECK(mlr_codepoint_width(0x05B8) == 0);  /* Hebrew point */
  CHECK(mlr_codepoint_width(0x0941) == 0);  /* Devanagari vowel sign */
  CHECK(mlr_codepoint_width(0x1160) == 0);  /* Hangul vowel jamo */
  CHECK(mlr_codepoint_width(0x2600) == 1);  /* sun: text presentation */
  CHECK(mlr_codepoint_width(0x00E9) == 1);
  CHECK(mlr_codepoint_is_control(0x1B) && mlr_codepoint_is_control(0x7F));
  CHECK(mlr_codepoint_is_control(0x9B) && !mlr_codepoint_is_control(0xA0));
  CHECK(mlr_codepoint_is_bidi_control(0x202A) && mlr_codepoint_is_bidi_control(0x202E));
  CHECK(mlr_codepoint_is_bidi_control(0x2066) && mlr_codepoint_is_bidi_control(0x2069));
  CHECK(!mlr_codepoint_is_bidi_control(0x2029) && !mlr_codepoint_is_bidi_control(0x202F));
  CHECK(!mlr_codepoint_is_bidi_control(0x2065) && !mlr_codepoint_is_bidi_control(0x206A));
  CHECK(!mlr_codepoint_is_bidi_control(0x200F)); /* a mark, not an override: shown as is */
  const char *s = "e\xcc\x81\xe6\xbc\xa2x";      /* e + combining acute, a CJK character, x */
  CHECK_EQ_INT(mlr_utf8_width(s, strlen(s)), 4);
}

MTEST_MAIN(MTEST(test_decode), MTEST(test_width))
