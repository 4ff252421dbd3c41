Feature: API key lifecycle
  An admin hands out keys per team and role; keys act only in their namespace,
  within their role; a revoked key stops working at once; every change is audited.

  Scenario: An admin creates a developer key that works in its namespace only
    When the admin creates a "developer" key for namespace "team-a" as "dev-a"
    Then the response status code is "201"
    And the key's token is in the answer, and its hash is not
    When "dev-a" uploads "sum" to /v1 as "a-sum"
    Then the response status code is "201"
    And the module "a-sum" is in namespace "team-a"
    When "dev-a" runs "sum" of "a-sum" with args "[2, 3]"
    Then the results are "[5]"
    When the admin creates a "developer" key for namespace "team-b" as "dev-b"
    And "dev-b" reads the module "a-sum"
    Then the response is a problem "404" "module_not_found"

  Scenario: Roles limit what a key may do
    When the admin creates a "invoker" key for namespace "team-a" as "inv-a"
    And "inv-a" uploads "sum" to /v1 as "forbidden"
    Then the response is a problem "403" "permission_denied"
    When "inv-a" runs "sum" of "a-sum" with args "[1, 1]"
    Then the results are "[2]"
    When "inv-a" lists the keys
    Then the response is a problem "403" "permission_denied"

  Scenario: A revoked key is refused at once
    When the admin revokes the key "dev-a"
    Then the response status code is "204"
    When "dev-a" runs "sum" of "a-sum" with args "[1, 1]"
    Then the response is a problem "401" "unauthenticated"

  Scenario: Keys are never accepted in the query string
    When the admin sends its key in the query string
    Then the response is a problem "401" "unauthenticated"

  Scenario: Every change is in the audit log, and its chain verifies
    When the admin reads the whole audit log
    Then it holds entries for "key.create", "module.create" and "key.revoke"
    And the refused upload is there with outcome "permission_denied"
    And the hash chain verifies
