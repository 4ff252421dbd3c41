;; A small WebAssembly component (WASI 0.2 component model) written by hand:
;; strings, a record, a list and a result, with no imports. Build it with
;; `python -c "import wasmtime; open('greeter.wasm','wb').write(wasmtime.wat2wasm(open('greeter.wat').read()))"`.
(component
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 1024))
    (data (i32.const 64) "Hello, ")
    (data (i32.const 80) "age must not be negative")

    ;; canonical ABI allocator: a bump allocator that grows memory as needed
    (func $realloc (export "realloc")
      (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $ret i32)
      (local.set $ret
        (i32.and
          (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $bump (i32.add (local.get $ret) (local.get $size)))
      (block $fits
        (br_if $fits (i32.le_u (global.get $bump) (i32.shl (memory.size) (i32.const 16))))
        (br_if $fits
          (i32.ne
            (memory.grow
              (i32.add
                (i32.shr_u
                  (i32.sub (global.get $bump) (i32.shl (memory.size) (i32.const 16)))
                  (i32.const 16))
                (i32.const 1)))
            (i32.const -1)))
        unreachable)
      (local.get $ret))

    ;; greet(who) = "Hello, " + who + "!"
    (func (export "greet") (param $p i32) (param $n i32) (result i32)
      (local $out i32)
      (local.set $out
        (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (i32.add (local.get $n) (i32.const 8))))
      (memory.copy (local.get $out) (i32.const 64) (i32.const 7))
      (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $p) (local.get $n))
      (i32.store8 (i32.add (local.get $out) (i32.add (local.get $n) (i32.const 7))) (i32.const 33))
      (i32.store (i32.const 16) (local.get $out))
      (i32.store (i32.const 20) (i32.add (local.get $n) (i32.const 8)))
      (i32.const 16))

    ;; birthday(person) = the same person, one year older
    (func (export "birthday") (param $p i32) (param $n i32) (param $age i32) (result i32)
      (i32.store (i32.const 16) (local.get $p))
      (i32.store (i32.const 20) (local.get $n))
      (i32.store (i32.const 24) (i32.add (local.get $age) (i32.const 1)))
      (i32.const 16))

    ;; count(words) = how many words
    (func (export "count") (param $p i32) (param $n i32) (result i32)
      (local.get $n))

    ;; check-age(age) = ok(age), or err(message) when age < 0
    (func (export "check-age") (param $age i32) (result i32)
      (if (i32.lt_s (local.get $age) (i32.const 0))
        (then
          (i32.store8 (i32.const 32) (i32.const 1))
          (i32.store (i32.const 36) (i32.const 80))
          (i32.store (i32.const 40) (i32.const 24)))
        (else
          (i32.store8 (i32.const 32) (i32.const 0))
          (i32.store (i32.const 36) (local.get $age))))
      (i32.const 32))

    ;; spin() never returns; crash() traps
    (func (export "spin") (loop $forever (br $forever)))
    (func (export "crash") (result i32) unreachable)
  )
  (core instance $i (instantiate $m))

  (type $person' (record (field "name" string) (field "age" u32)))
  (export $person "person" (type $person'))

  (func (export "greet") (param "who" string) (result string)
    (canon lift (core func $i "greet") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func (export "birthday") (param "p" $person) (result $person)
    (canon lift (core func $i "birthday") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func (export "count") (param "words" (list string)) (result u32)
    (canon lift (core func $i "count") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func (export "check-age") (param "age" s32) (result (result s32 (error string)))
    (canon lift (core func $i "check-age") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func (export "spin")
    (canon lift (core func $i "spin")))
  (func (export "crash") (result u32)
    (canon lift (core func $i "crash")))
)
