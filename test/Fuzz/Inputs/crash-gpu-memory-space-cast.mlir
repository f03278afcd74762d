#map = affine_map<(d0) -> (d0)>

func.func @sequential(%p: tensor<?xf32>, %g: tensor<?xf32>) -> tensor<?xf32> attributes {optim.sequential} {
  %0 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%g : tensor<?xf32>) outs(%p : tensor<?xf32>) {
  ^bb0(%a: f32, %b: f32):
    %1 = arith.subf %b, %a : f32
    linalg.yield %1 : f32
  } -> tensor<?xf32>
  return %0 : tensor<?xf32>
}
