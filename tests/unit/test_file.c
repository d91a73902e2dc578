/* test_file.c: whole-file reads (common/file.c): contents NUL-terminated with their length, a file
 * over the limit refused, a missing file named with errno's text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_reads_whole_files(void **state)
{
    (void)state;
    char path[] = "/tmp/test_file.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char *text = NULL, err[256];
    size_t len = 1;
    assert_int_equal(file_read_all(path, 0, &text, &len, err, sizeof err), 0); /* empty */
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
    /* sizes around the growth steps, with a NUL inside */
    size_t sizes[] = {1, 4095, 4096, 4097, 8192, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *data = malloc(sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            data[j] = (char)('a' + j % 26);
        data[sizes[i] / 2] = '\0';
        write_file(path, data, sizes[i]);
        assert_int_equal(file_read_all(path, 0, &text, &len, err, sizeof err), 0);
        assert_int_equal(len, sizes[i]);
        assert_memory_equal(text, data, sizes[i]);
        assert_int_equal(text[len], '\0');
        free(text);
        assert_int_equal(file_read_all(path, sizes[i], &text, NULL, err, sizeof err), 0);
        free(text);
        text = NULL;
        assert_int_equal(file_read_all(path, sizes[i] - 1, &text, NULL, err, sizeof err),
                         sizes[i] - 1 == 0 ? 0 : ERR_RANGE);
        if (sizes[i] - 1 > 0) {
            assert_null(text);
            assert_non_null(strstr(err, "larger than"));
        }
        free(text);
        free(data);
    }
    unlink(path);
    text = NULL;
    assert_int_equal(file_read_all(path, 0, &text, &len, err, sizeof err), ERR_IO);
    assert_null(text);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_whole_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
