// Hash tables stored as f32, one value per element (blend.wgsl).

alias TableWord = f32;
alias TableValue = f32;

fn unpack_table(word: f32) -> f32 {
    return word;
}

fn pack_table(value: f32) -> f32 {
    return value;
}
