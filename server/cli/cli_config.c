#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* pushgated config: the effective configuration, after the same checks as
 * every subcommand, as one JSON object of variable name -> value (null when
 * unset), each spelled as the variable would be; secrets (CONFIG_SECRET) as
 * "(secret)". No database, nothing written. argv[0] is "config". */
int cli_config(const struct config *cfg, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: pushgated config\n");
        return 2;
    }
    json_t *o = json_object();
    char buf[4096];
    for (size_t i = 0; i < config_nvars; i++) {
        const struct config_var *v = &config_vars[i];
        int set = config_var_format(cfg, v, buf, sizeof buf) == 0;
        json_t *value = set ? json_string(buf) : json_null();
        json_object_set_new(o, v->name, value ? value : json_string("(not UTF-8)"));
    }
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        return 1;
    puts(text);
    free(text);
    return 0;
}
