/* unit/dispatch: the method table stays sorted and every name resolves to itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "dispatch.h"

static void test_sorted(void **state)
{
        for (size_t i = 1; i < netd_methods_count; i++)
                assert_true(strcmp(netd_methods[i - 1].name, netd_methods[i].name) < 0);
}

static void test_lookup_every_method(void **state)
{
        for (size_t i = 0; i < netd_methods_count; i++) {
                const struct netd_method *m = netd_dispatch_lookup(netd_methods[i].name);

                assert_non_null(m);
                assert_ptr_equal(m, &netd_methods[i]);
                assert_true((m->fn != NULL) != (m->on_handle != NULL));
        }
}

static void test_lookup_unknown(void **state)
{
        assert_null(netd_dispatch_lookup(""));
        assert_null(netd_dispatch_lookup("net"));
        assert_null(netd_dispatch_lookup("net.isip"));
        assert_null(netd_dispatch_lookup("net.isIP "));
        assert_null(netd_dispatch_lookup("zzz"));
}

static void test_aliases(void **state)
{
        assert_ptr_equal(netd_dispatch_lookup("net.connect")->fn,
                         netd_dispatch_lookup("net.createConnection")->fn);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sorted),
                cmocka_unit_test(test_lookup_every_method),
                cmocka_unit_test(test_lookup_unknown),
                cmocka_unit_test(test_aliases),
        };

        return cmocka_run_group_tests_name("dispatch", tests, NULL, NULL);
}
