/* Fuzz target for JWT verification (lib/proto/token) with a fixed HS256
 * secret and fixed RSA and EC public keys, every algorithm allowed. An
 * accepted token is only possible if the fuzzer forges a signature, so
 * acceptance is checked for the identity's invariants; every refusal must
 * leave an empty identity and a known reason. */
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "proto/channel.h"
#include "proto/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char SECRET[] = "fuzz-secret";

static const char RSA_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
                              "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvSp7IB3Tt++oQ3d9TW18\n"
                              "eZNMSH6vvFdkNB9oLk8XKMaRuK+OwOKxn+7j4VCKOWwUHkhzmQN4C+U0QHS67nR+\n"
                              "c6vrou9Wwt+0GHX5p8IjPT6BAaUZLjRpYeUW3519uqEMCp0Af0+d4nhw793CWhdk\n"
                              "f1bOWbQysLDM17ljVPkzZkinhH0iIqtPA5rIe01avV/H7XkEi0TGAn08eI01eaMi\n"
                              "USpNDXkwcaCnWj+IPbVWH8kA15j5LeeMAiJFjokLjxSwpOLBNO7hadvtBtwYDwjy\n"
                              "YC5gXV6wFHHzr+tHiqroX2WxHmlR2BkOFQS2sudlvwAbTsrj6gbiMWIncrkXenEF\n"
                              "5QIDAQAB\n"
                              "-----END PUBLIC KEY-----\n";

static const char EC_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
                             "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5VP5Eqq+cSA7vVfK3sJEaixOxiV3\n"
                             "S8guPa2sUHvuVrtC/VA2U+HcXHWbVKN2Cla2Ai1KmG+wdMxyScR4+TJr2A==\n"
                             "-----END PUBLIC KEY-----\n";

static const char *const REASONS[] = {
    "malformed",     "algorithm not allowed", "bad signature",  "expired",
    "not yet valid", "wrong issuer",          "wrong audience", "bad channels claim",
};

static void verify_with(const hr_token_cfg *cfg, const uint8_t *data, size_t size)
{
    hr_identity id;
    const char *why = NULL;
    const int rc = hr_token_verify(cfg, (const char *)data, size, 1700000000, &id, &why);
    if (rc == 0) {
        HR_ASSERT(why == NULL);
        for (size_t i = 0; i < id.n_channels; i++)
            HR_ASSERT(hr_channel_is_valid_pattern(id.channels[i], strlen(id.channels[i])));
        hr_identity_deinit(&id);
        return;
    }
    HR_ASSERT(rc == HR_EDENIED);
    HR_ASSERT(id.user == NULL && id.channels == NULL && id.n_channels == 0);
    bool known = false;
    for (size_t i = 0; i < sizeof REASONS / sizeof REASONS[0]; i++)
        known = known || strcmp(why, REASONS[i]) == 0;
    HR_ASSERT(known);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const hr_token_cfg rsa = {
        .allow_hs256 = true,
        .allow_rs256 = true,
        .allow_es256 = true,
        .secret = (const uint8_t *)SECRET,
        .secret_len = sizeof SECRET - 1,
        .public_key_pem = (const uint8_t *)RSA_PUB,
        .public_key_len = sizeof RSA_PUB - 1,
        .issuer = "iss",
        .audience = "aud",
        .leeway_s = 60,
    };
    verify_with(&rsa, data, size);
    const hr_token_cfg ec = {
        .allow_es256 = true,
        .public_key_pem = (const uint8_t *)EC_PUB,
        .public_key_len = sizeof EC_PUB - 1,
    };
    verify_with(&ec, data, size);
    const char *tok = NULL;
    size_t n = 0;
    if (hr_token_from_bearer((const char *)data, size, &tok, &n))
        HR_ASSERT(tok >= (const char *)data && tok + n <= (const char *)data + size && n > 0);
    return 0;
}
