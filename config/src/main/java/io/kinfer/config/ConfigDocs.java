package io.kinfer.config;

import java.util.List;
import java.util.Locale;

import org.apache.kafka.common.config.ConfigDef;

/**
 * Renders a {@link ConfigDef} as a Markdown table (key, environment variable, type, default, valid values, doc),
 * so the settings reference is generated from the definitions and cannot drift from them.
 */
public final class ConfigDocs {

    private ConfigDocs() {
    }

    public static String markdownTable(ConfigDef def) {
        StringBuilder out = new StringBuilder();
        out.append("| key | environment | type | default | valid values | description |\n");
        out.append("|---|---|---|---|---|---|\n");
        List<ConfigDef.ConfigKey> keys = def.configKeys().values().stream()
                .sorted((a, b) -> a.name.compareTo(b.name))
                .toList();
        for (ConfigDef.ConfigKey key : keys) {
            out.append("| `").append(key.name).append("` | `").append(ConfigLoader.keyToEnv(key.name)).append("` | ")
                    .append(key.type.name().toLowerCase(Locale.ROOT)).append(" | ")
                    .append(defaultText(key)).append(" | ")
                    .append(key.validator == null ? "" : escape(key.validator.toString())).append(" | ")
                    .append(escape(key.documentation)).append(" |\n");
        }
        return out.toString();
    }

    private static String defaultText(ConfigDef.ConfigKey key) {
        if (!key.hasDefault()) {
            return "(required)";
        }
        Object value = key.defaultValue;
        if (value == null) {
            return "(none)";
        }
        String text = value instanceof List<?> list ? String.join(",", list.stream().map(String::valueOf).toList())
                : String.valueOf(value);
        return text.isEmpty() ? "\"\"" : "`" + text + "`";
    }

    private static String escape(String text) {
        return text == null ? "" : text.replace("|", "\\|").replace("\n", " ");
    }
}
