package io.kinfer.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Settings the gateway refuses at start rather than serve with, and those it takes. */
class GatewayConfigTest {

    /**
     * Fail closed: a keys file that holds no key (an empty secret mounted in its place) or a keys setting of only
     * commas turned authentication off without a word, and every route was served to anyone.
     */
    @Test
    void keysSettingsThatHoldNoKeyAreRefusedInsteadOfTurningAuthenticationOff(@TempDir Path dir) throws Exception {
        Path comments = Files.writeString(dir.resolve("keys"), "# keys go here\n\n");
        assertThatThrownBy(() -> new GatewayConfig(Map.of(GatewayConfig.API_KEYS_FILE, comments.toString())))
                .isInstanceOf(ConfigException.class).hasMessageContaining(GatewayConfig.API_KEYS_FILE)
                .hasMessageContaining("holds no key");
        assertThatThrownBy(() -> new GatewayConfig(Map.of(GatewayConfig.API_KEYS, " , ")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(GatewayConfig.API_KEYS)
                .hasMessageContaining("holds no key").hasMessageNotContaining(" , ");

        Path keys = Files.writeString(dir.resolve("more"), "# two keys\nk-one\n\nk-two\n");
        assertThat(new GatewayConfig(Map.of(GatewayConfig.API_KEYS_FILE, keys.toString())).apiKeys())
                .containsExactly("k-one", "k-two");
        assertThat(new GatewayConfig(Map.of(GatewayConfig.API_KEYS, "")).apiKeys()).as("empty: no keys").isEmpty();
        assertThat(new GatewayConfig(Map.of()).apiKeys()).isEmpty();
    }
}
