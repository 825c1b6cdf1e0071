package io.kinfer.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;

/** The URL to reach a server on this machine from the address it binds. */
class LocalUrlTest {

    @Test
    void aWildcardOrNoAddressIsReachedOnLoopback() {
        assertThat(LocalUrl.http(null, 8080)).isEqualTo("http://127.0.0.1:8080");
        assertThat(LocalUrl.http(" ", 18080)).isEqualTo("http://127.0.0.1:18080");
        for (String wildcard : List.of("0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0")) {
            assertThat(LocalUrl.http(wildcard, 8080)).as(wildcard).isEqualTo("http://127.0.0.1:8080");
        }
    }

    @Test
    void aSingleAddressIsReachedThereWithIpv6InBrackets() {
        assertThat(LocalUrl.http("10.1.2.3", 9000)).isEqualTo("http://10.1.2.3:9000");
        assertThat(LocalUrl.http("gateway.internal", 8080)).isEqualTo("http://gateway.internal:8080");
        assertThat(LocalUrl.http("::1", 8080)).isEqualTo("http://[::1]:8080");
        assertThat(LocalUrl.http("[fd00::5]", 8080)).isEqualTo("http://[fd00::5]:8080");
    }

    @Test
    void aWildcardBindCanBeGivenTheAddressToAdvertise() {
        assertThat(LocalUrl.http("[::]", 8080, "10.0.0.7")).isEqualTo("http://10.0.0.7:8080");
        assertThat(LocalUrl.http("0.0.0.0", 8080, "fd00::7")).isEqualTo("http://[fd00::7]:8080");
        assertThat(LocalUrl.http("10.1.2.3", 8080, "10.0.0.7")).isEqualTo("http://10.1.2.3:8080");
    }
}
