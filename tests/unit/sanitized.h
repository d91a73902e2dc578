/* sanitized.h: SANITIZED is defined when AddressSanitizer is built in (its allocator replaces
 * glibc's: malloc_trim and mallinfo2 do not see its memory, so tests of them skip or relax). */
#ifndef TESTS_UNIT_SANITIZED_H
#define TESTS_UNIT_SANITIZED_H

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

#endif
