Feature: The /v1 API
  Modules as resources, runs as a sub-resource, errors as problem documents.

  Scenario: Upload, run, replace and delete a module
    When uploading "sum" to /v1 with function "sum"
    Then the response status code is "201"
    And the response has a Location and an ETag
    And the ID is saved from the resource in "v1_sum"
    When running "sum" of "v1_sum" with args "[1, 2]" on /v1
    Then the response status code is "200"
    And the results are "[3]"
    When replacing "v1_sum" with "counter" on /v1
    Then the response is a problem "422" "signature_mismatch"
    When replacing "v1_sum" with "counter" and function "bump" on /v1
    Then the response status code is "200"
    And the resource revision is "2"
    When running "bump" of "v1_sum" with args "[]" on /v1
    Then the results are "[1]"
    When deleting "v1_sum" on /v1
    Then the response status code is "204"
    When reading "v1_sum" on /v1
    Then the response is a problem "404" "module_not_found"

  Scenario Outline: Failures are problem documents with stable codes
    When uploading "<module>" to /v1 with function "<function>"
    And the ID is saved from the resource in "<alias>"
    And running "<call>" of "<alias>" with args "<args>" on /v1
    Then the response is a problem "<status>" "<code>"

    Examples:
      | module | function    | alias | call        | args     | status | code               |
      | sum    | sum         | s1    | sum         | [1]      | 400    | invalid_arguments  |
      | sum    | sum         | s2    | sum         | [2147483648, 0] | 400 | invalid_arguments |
      | sum    | sum         | s3    | product     | [1, 2]   | 404    | function_not_found |
      | traps  | unreachable | t1    | unreachable | []       | 422    | trap               |
      | traps  | div         | t2    | div         | [1, 0]   | 422    | trap               |

  Scenario: Uploads Wess cannot accept
    When uploading "bad_import" to /v1 with function "f"
    Then the response is a problem "422" "unknown_import"
    When uploading raw bytes "not wasm at all" to /v1
    Then the response is a problem "422" "invalid_wasm"

  Scenario: A timeout is a 408
    When uploading "traps" to /v1 with function "spin"
    And the ID is saved from the resource in "spinner"
    And running "spin" of "spinner" with limits '{"timeout_ms": 100}' on /v1
    Then the response is a problem "408" "timeout"
