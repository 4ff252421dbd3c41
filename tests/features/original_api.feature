@unauthenticated
Feature: The original Wess API keeps working for existing clients
  The scenarios of the original Wess Behave suite, against a real server process.
  Clients send JSON bodies without a JSON content type, as its steps did.

  Background:
    Given the following WasmModules are available:
      | module  | function | returns | args     |
      | sum     | sum      | [I32]   | [I32, I32] |
      | counter | bump     | [I32]   | []       |

  Scenario: Create a WasmModule
    When sending the wasm "sum" to create a new WasmModule
    Then the response status code is "202"
    And the response body matches the default UUID
    And the ID is saved in "sum_created"
    And Wess must log the "CREATE" operation with the ID "sum_created"

  Scenario: Read after write
    When reading the ID "sum_created"
    Then the response status code is "202"
    And the message holds the wasm of "sum"

  Scenario: Run a WasmModule
    When running the ID "sum_created" with args "[20, 22]"
    Then the response status code is "200"
    And the message is "[42]"

  Scenario: Updating a WasmModule
    When sending the wasm "counter" to update the ID "sum_created"
    Then the response status code is "202"
    And Wess must log the "UPDATE" operation with the ID "sum_created"
    When running the ID "sum_created" with args "[]"
    Then the message is "[1]"

  Scenario: Delete a WasmModule
    When sending the ID "sum_created" to delete
    Then the response status code is "202"
    And Wess must log the "DELETE" operation with the ID "sum_created"
    When reading the ID "sum_created"
    Then the response status code is "404"

  Scenario Outline: Errors keep the original statuses
    When sending "<method>" to "<path>" with body "<body>"
    Then the response status code is "<status>"
    And the body is a message

    Examples:
      | method | path                                  | body       | status |
      | GET    | /not-a-uuid                           |            | 400    |
      | POST   | /                                     | {broken    | 400    |
      | POST   | /                                     | {"wasm": [1, 2], "metadata": {"functionName": "f", "returnType": [], "args": []}} | 400 |
      | GET    | /00000000-0000-4000-8000-000000000000 |            | 404    |
      | POST   | /00000000-0000-4000-8000-000000000000 | [1, 2]     | 404    |
